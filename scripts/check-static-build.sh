#!/usr/bin/env bash
# Check the phpeek-pm that scripts/build-release.sh left in target/release.
#
# Usage: scripts/check-static-build.sh [BINARY]
#
# On Linux with glibc it must be the static, fixed-address build: no program
# interpreter, no dynamic relocations, and `phpeek-pm version` saying so.
# As root, it also checks in a private mount namespace that users and
# groups resolve from /etc/passwd and /etc/group alone. There,
# nsswitch.conf lists only a service that does not exist. The lookup must
# still work, and no NSS module may be loaded. Exits 1 with the reason on the first
# failed check. Without root, unshare or strace, the lookup check is
# skipped, except under CI=true, where that is an error.
set -euo pipefail
. "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"

repo_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
binary=${1:-${CARGO_TARGET_DIR:-$repo_dir/target}/release/phpeek-pm}
[[ -x $binary ]] || die "$binary not found; build it with scripts/build-release.sh"

host=$(rustc -vV | sed -n 's/^host: //p')
if [[ $host != *-linux-gnu ]]; then
    note "host $host builds no static phpeek-pm; nothing to check"
    exit 0
fi

version=$("$binary" version)
[[ $version == *"(statically linked)" ]] ||
    die "$binary is not the static build: \`phpeek-pm version\` printed \"$version\""
if readelf --program-headers "$binary" | grep -q INTERP; then
    die "$binary has a program interpreter, so it is dynamically linked"
fi
# R_X86_64_RELATIVE, R_AARCH64_RELATIVE and so on, whatever the machine.
relocations=$(readelf --relocs "$binary" | grep -cE 'R_[A-Z0-9]+_RELATIVE' || true)
[[ $relocations == 0 ]] || die "$binary has $relocations relative relocations; expected none"
note "$version, no interpreter, no relative relocations"

if [[ $(id -u) != 0 ]] || ! command -v unshare >/dev/null || ! command -v strace >/dev/null; then
    [[ ${CI:-} == true ]] && die "the name lookup check needs root, unshare and strace"
    note "skipping the name lookup check: it needs root, unshare and strace"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
printf 'passwd: phpeekmissing\ngroup: phpeekmissing\nhosts: phpeekmissing\n' >"$work/nsswitch.conf"
cat >"$work/phpeek-pm.yaml" <<'YAML'
global:
  log_format: json
processes:
  whoami:
    command: ["id", "-u"]
    user: nobody
    group: nogroup
    restart: never
YAML
# The child `id` is dynamically linked and follows the replaced
# nsswitch.conf. So it prints the uid as a number, which needs no lookup.
# phpeek-pm itself must resolve "nobody" and "nogroup" to start it at all.
unshare --mount sh -c '
    mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
    exec strace -f -qq -e trace=openat -o "$1/trace" "$2" -c "$1/phpeek-pm.yaml"
' sh "$work" "$binary" >"$work/output" 2>&1 ||
    die "phpeek-pm failed under a nsswitch.conf without files: $(tail -n 5 "$work/output")"
nobody=$(getent passwd nobody | cut -d: -f3)
grep -q "\"msg\":\"$nobody\"" "$work/output" && grep -q '"exit_code":0' "$work/output" ||
    die "the process failed to run as nobody (uid $nobody) and exit 0: $(tail -n 5 "$work/output")"
first_pid=$(head -n 1 "$work/trace" | cut -d' ' -f1)
if grep "^$first_pid " "$work/trace" | grep -q 'libnss_'; then
    die "phpeek-pm loaded an NSS module: $(grep libnss_ "$work/trace" | head -n 1)"
fi
note "users and groups resolve from /etc/passwd and /etc/group alone; no NSS module loaded"
