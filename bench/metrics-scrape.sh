#!/usr/bin/env bash
# Measure how long one /metrics scrape takes with many instances.
#
# Usage: bench/metrics-scrape.sh [--instances N] [--scrapes N] [--binary PATH]
#
# Starts phpeek-pm (default target/release/phpeek-pm) with one process
# scaled to N instances of `sleep` (default 1000). Once
# phpeek_pm_process_current_scale reports all of them running, it scrapes
# /metrics on a free 127.0.0.1 port M times (default 200) with curl. It
# prints the median, 90th percentile and maximum of curl's time_total, and
# the size of one scrape. Each scrape reads /proc for every instance, so the
# time covers the /proc scan, the collector and the text encoding. Build
# first with: scripts/build-release.sh
set -euo pipefail

repo_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$repo_dir/scripts/common.sh"
instances=1000
scrapes=200
binary=${CARGO_TARGET_DIR:-$repo_dir/target}/release/phpeek-pm

while (($# > 0)); do
    case $1 in
        --instances) instances=$2; shift 2 ;;
        --scrapes) scrapes=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        *) echo "metrics-scrape.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
for tool in curl python3; do
    command -v "$tool" >/dev/null || {
        echo "metrics-scrape.sh: $tool not found" >&2
        exit 1
    }
done
[[ -x $binary ]] || {
    echo "metrics-scrape.sh: $binary not found; build it with scripts/build-release.sh" >&2
    exit 1
}

make_pm_work_dir
port=$(free_loopback_port)
cat >"$work/phpeek-pm.yaml" <<YAML
global:
  shutdown_timeout: 30
  max_process_scale: $instances
  metrics_enabled: true
  metrics_address: 127.0.0.1
  metrics_port: $port
processes:
  queue:
    command: [sleep, "100000"]
    scale: $instances
    shutdown:
      timeout: 10
YAML
"$binary" -c "$work/phpeek-pm.yaml" >"$work/pm.log" 2>&1 &
pm_pid=$!

url="http://127.0.0.1:$port/metrics"
for _ in $(seq 600); do
    running=$(curl -fsS "$url" 2>/dev/null |
        awk '/^phpeek_pm_process_current_scale\{/ { print $2 }') || true
    [[ ${running:-0} == "$instances" ]] && break
    sleep 0.1
done
[[ ${running:-0} == "$instances" ]] || {
    echo "metrics-scrape.sh: only ${running:-0} of $instances instances came up" >&2
    exit 1
}

size=$(curl -fsS "$url" | wc -c)
for _ in $(seq "$scrapes"); do
    curl -fsS -o /dev/null -w '%{time_total}\n' "$url"
done >"$work/times"

python3 - "$work/times" "$instances" "$scrapes" "$size" <<'PY'
import statistics, sys
times = sorted(float(line) * 1000 for line in open(sys.argv[1]))
p90 = times[int(len(times) * 0.9) - 1]
print(f"instances={sys.argv[2]} scrapes={sys.argv[3]} bytes={sys.argv[4]}")
print(f"median={statistics.median(times):.2f} ms p90={p90:.2f} ms max={times[-1]:.2f} ms")
PY
