#!/usr/bin/env bash
# Compare phpeek-pm with supervisord, s6 and tini, side by side. See
# bench/compare.py for the scenarios and bench/report.py for the method.
#
# Usage: bench/compare.sh [--quick] [--runs N] [--idle-seconds S]
#                         [--only LIST] [--update-benchmarks] [--binary PATH]
#
# Needs python3 3.10 or later and a release build of phpeek-pm:
#   scripts/build-release.sh
# As root it installs the Debian packages supervisor, s6, tini and time
# when one is missing.
set -euo pipefail

bench_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)

if ! command -v python3 >/dev/null; then
    echo "compare.sh: error: python3 not found. Install it with: apt-get install python3" >&2
    exit 1
fi
exec python3 "$bench_dir/compare.py" "$@"
