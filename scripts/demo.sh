#!/usr/bin/env bash
# Build phpeek-pm and run it in the foreground, supervising php-fpm and
# nginx that serve examples/app on 127.0.0.1.
#
# It builds with scripts/build-release.sh, so target/release/phpeek-pm
# stays the static build that Install in README.md and phpeek-image ship.
# A plain `cargo build --release -p phpeek-supervisor` would write a
# dynamically linked phpeek-pm over it.
#
# Usage: scripts/demo.sh
#
# Settings, all optional, read from the environment:
#   PORT             HTTP port on 127.0.0.1 (default 8080)
#   PHP_FPM_LISTEN   php-fpm's FastCGI address (default 127.0.0.1:9000)
#   PHPEEK_DEMO_DIR  where the rendered configs go (default: a new
#                    directory under TMPDIR or /tmp, kept after the demo)
#
# As root it installs php-fpm and nginx-light with apt-get when either is
# missing. phpeek-pm replaces this script's process (exec), so Ctrl-C or a
# SIGTERM to this PID reaches phpeek-pm directly. It runs its built-in
# config, which reads the PHP_FPM_* and NGINX_* variables exported here.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname -- "$script_dir")
# shellcheck source=scripts/common.sh
. "$script_dir/common.sh"

install_servers() {
    if [[ -n $(find_php_fpm) && -n $(find_nginx) ]]; then
        return
    fi
    if ((EUID != 0)) || ! command -v apt-get >/dev/null; then
        die "php-fpm or nginx not found. As root, run:" \
            "apt-get install php-fpm nginx-light (or set PHP_FPM_BIN and NGINX_BIN)"
    fi

    note "installing php-fpm and nginx-light with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends php-fpm nginx-light
}

port=${PORT:-8080}
fpm_listen=${PHP_FPM_LISTEN:-127.0.0.1:9000}
system_config=/etc/phpeek-pm/phpeek-pm.yaml

# phpeek-pm prefers a config file to its built-in config, and the demo
# needs the built-in one.
if [[ -e $system_config ]]; then
    die "$system_config exists, and phpeek-pm would load it instead of its" \
        "built-in config. Move it away to run the demo."
fi
unset PHPEEK_PM_CONFIG

install_servers
command -v cargo >/dev/null || die "cargo not found. Install a Rust toolchain first."

demo_dir=${PHPEEK_DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/phpeek-demo.XXXXXX")}
NGINX_HTTP_PORT=$port PHP_FPM_LISTEN=$fpm_listen \
    "$script_dir/render-fixture.sh" "$demo_dir" >/dev/null
set -a
# shellcheck source=/dev/null
. "$demo_dir/env"
set +a

if port_in_use 127.0.0.1 "$port"; then
    die "127.0.0.1:$port is already in use. Set PORT to a free port."
fi
if port_in_use "${fpm_listen%:*}" "${fpm_listen##*:}"; then
    die "$fpm_listen is already in use. Set PHP_FPM_LISTEN to a free address."
fi

note "building the release binaries (scripts/build-release.sh)"
"$script_dir/build-release.sh"
# build-release.sh reads a relative CARGO_TARGET_DIR from the repository.
target_dir=${CARGO_TARGET_DIR:-$repo_dir/target}
[[ $target_dir == /* ]] || target_dir=$repo_dir/$target_dir
binary=$target_dir/release/phpeek-pm
[[ -x $binary ]] || die "build finished but $binary is missing"

note "configs and pid files are in $demo_dir"
note "open http://127.0.0.1:$port/ (also /health and /slow.php?ms=2000)"
note "press Ctrl-C to stop"
exec "$binary"
