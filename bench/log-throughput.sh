#!/usr/bin/env bash
# Measures lines per second through phpeek-pm's whole log pipeline (JSON
# envelope, multiline, JSON parsing, level detection, redaction) for
# 100-byte lines that a real child (`cat`) writes in large blocks, next to
# `cat` of the same input through a pipe to /dev/null.
#
# Usage: bench/log-throughput.sh [LINES] [RUNS]   (default 1000000 lines, 3 runs)
# Needs: cargo, awk. Writes the input to a temporary directory.
set -euo pipefail

lines=${1:-1000000}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
input=$work/lines.txt

# A mix of what PHP containers print, each line padded to 99 characters plus
# the newline: nginx access lines, Laravel and php-fpm lines with levels,
# lines with secrets to redact, JSON logger lines and plain text.
awk -v n="$lines" 'BEGIN {
    t[0] = "127.0.0.1 - - [04/Dec/2026:10:00:00 +0000] \"GET /index.php?page=2 HTTP/1.1\" 200 512"
    t[1] = "[2026-12-04 10:00:00] production.INFO: User logged in {\"user_id\":42}"
    t[2] = "[04-Dec-2026 10:00:00] WARNING: [pool www] child 12 said into stderr: \"slow\""
    t[3] = "2026/12/04 10:00:00 [error] 12#12: *3 open() \"/var/www/html/x.ico\" failed (2)"
    t[4] = "{\"level\":\"info\",\"msg\":\"request handled\",\"duration\":12,\"route\":\"home\"}"
    t[5] = "connecting with password=hunter2 to mysql://app:secret@db:3306/app"
    t[6] = "Processed job App\\Jobs\\SendMail in 12ms, 0 errors found"
    t[7] = "plain output line number with some words and a number 12345"
    pad = sprintf("%99s", "")
    for (i = 0; i < n; i++) {
        line = t[i % 8] " " i " "
        print substr(line pad, 1, 99)
    }
}' > "$input"

echo "machine: $(nproc) cores, kernel $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "input: $lines lines of 100 bytes ($(du -h "$input" | cut -f1))"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --quiet --release -p phpeek-supervisor --example log_throughput)
bench=$CARGO_TARGET_DIR/release/examples/log_throughput

for run in $(seq "$runs"); do
    start=$(date +%s%N)
    cat "$input" | cat > /dev/null
    end=$(date +%s%N)
    awk -v l="$lines" -v ns=$((end - start)) -v r="$run" \
        'BEGIN { printf "cat | cat > /dev/null, run %d: %.0f lines/s wall\n", r, l / (ns / 1e9) }'
done
for mode in full plain; do
    for format in json text; do
        for run in $(seq "$runs"); do
            echo "pipeline $mode $format, run $run: $("$bench" "$input" "$format" "$mode")"
        done
    done
done
