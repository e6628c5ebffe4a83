#!/usr/bin/env bash
# Fuzz the management API of a running phpeek-pm against its OpenAPI
# document with schemathesis (PyPI package `schemathesis`).
#
# Usage: supervisor/tests/fuzz-api.sh PHPEEK_PM_BINARY [MAX_SECONDS]
#
# Starts the binary with a config of sleep processes on a free 127.0.0.1
# port and a token, runs `st run` for at most MAX_SECONDS (default 60), then
# stops phpeek-pm with SIGTERM. Fails when schemathesis finds a 5xx response,
# a response that contradicts the document, or when phpeek-pm is no longer
# running afterwards (a crash). Only the processes in the generated config
# are touched; nothing outside 127.0.0.1 is contacted.
set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../../scripts/common.sh"

binary=${1:?usage: fuzz-api.sh PHPEEK_PM_BINARY [MAX_SECONDS]}
max_seconds=${2:-60}
command -v st >/dev/null || {
    echo "fuzz-api.sh: schemathesis is not installed (pip install schemathesis)" >&2
    exit 2
}

make_pm_work_dir
port=$(free_loopback_port)
token=fuzz-$RANDOM$RANDOM
cat >"$work/phpeek-pm.yaml" <<YAML
global:
  shutdown_timeout: 10
  restart_backoff_initial: 100ms
  max_restart_attempts: 0
  metrics_enabled: false
  api_enabled: true
  api_port: $port
  api_auth: $token
processes:
  web:
    command: [sleep, "100000"]
    shutdown:
      timeout: 2
  queue-default:
    command: [sleep, "100000"]
    max_scale: 4
    shutdown:
      timeout: 2
  migrate:
    type: oneshot
    command: ["true"]
YAML

"$binary" -c "$work/phpeek-pm.yaml" >"$work/pm.log" 2>&1 &
pm_pid=$!
for _ in $(seq 100); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$port/api/v1/health"; then
        break
    fi
    sleep 0.1
done

# schemathesis keeps a cache in the working directory.
cd -- "$work"
status=0
st run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-time "$max_seconds" \
    --request-timeout 40 \
    --workers 1 \
    --suppress-health-check too_slow \
    --no-color || status=$?

if ! kill -0 "$pm_pid" 2>/dev/null; then
    echo "fuzz-api.sh: phpeek-pm exited during the run; its output:" >&2
    cat "$work/pm.log" >&2
    exit 1
fi
if ((status != 0)); then
    echo "fuzz-api.sh: schemathesis reported failures (exit $status)" >&2
    tail -n 50 "$work/pm.log" >&2
fi
exit "$status"
