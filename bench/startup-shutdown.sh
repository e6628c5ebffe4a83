#!/usr/bin/env bash
# Measure phpeek-pm's idle RSS, start-up time and SIGTERM-to-exit time as a
# whole process, from outside. See bench/startup_shutdown.py for what each
# number means and how it is taken.
#
# Usage: bench/startup-shutdown.sh [--runs N] [--interval S] [--settle S]
#                                  [--binary PATH]
#
# It only needs target/release/phpeek-pm (or --binary) and python3 3.10 or
# later. Build first with: scripts/build-release.sh
set -euo pipefail

bench_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

if ! command -v python3 >/dev/null; then
    echo "startup-shutdown.sh: error: python3 not found. Install it with: apt-get install python3" >&2
    exit 1
fi
exec python3 "$bench_dir/startup_shutdown.py" "$@"
