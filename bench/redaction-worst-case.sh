#!/usr/bin/env bash
# Compares the log pipeline on lines built to be slow to redact with lines
# of the same size that are not. Each hostile line repeats a secret key and
# its separator (`token=token=…`, `password:password:…`), the shape of a
# request URI that anyone can send and nginx writes to its access log. A
# redaction that is linear in the line length keeps both inputs within a
# small factor of each other.
#
# Usage: bench/redaction-worst-case.sh [LINES] [BYTES] [RUNS]
#        (default 2000 lines of 8000 bytes, 3 runs)
# Needs: cargo, python3.
set -euo pipefail

lines=${1:-2000}
bytes=${2:-8000}
runs=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One file per shape; every line is `bytes` long plus the newline.
python3 - "$work" "$lines" "$bytes" <<'PY'
import sys
work, lines, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
shapes = {
    "benign": "tokex=",
    "token-equals": "token=",
    "password-colon": "password:",
    "quote-open": None,
}
for name, unit in shapes.items():
    if unit is None:
        line = 'token="' + "api_key=" * size
    else:
        line = unit * (size // len(unit) + 1)
    line = line[:size] + "\n"
    with open(f"{work}/{name}.txt", "w") as out:
        out.write(line * lines)
PY

echo "machine: $(nproc) cores, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "input: $lines lines of $bytes bytes per shape"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --quiet --release -p phpeek-supervisor --example log_throughput)
bench=$CARGO_TARGET_DIR/release/examples/log_throughput

for shape in benign token-equals password-colon quote-open; do
    for run in $(seq "$runs"); do
        echo "$shape, run $run: $("$bench" "$work/$shape.txt" json full)"
    done
done
