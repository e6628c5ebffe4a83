#!/usr/bin/env bash
# Boot-test one php-fpm-nginx image with docker: the checks the image tests
# make with podman, for images that another builder made (the Nix flake).
#
# Usage: images/tests/smoke-test.sh IMAGE PHP_VERSION
#
# Checks, each with its own message on failure:
#   1. /health returns 200 within 5 s of `docker run`;
#   2. a PHP page served by php-fpm prints PHP_VERSION (such as 8.4);
#   3. `docker run IMAGE php -v` prints PHP_VERSION;
#   4. `docker stop` finishes within 3 s.
# Ports are published on 127.0.0.1 only. The container is removed at exit.
set -euo pipefail

image=${1:?usage: smoke-test.sh IMAGE PHP_VERSION}
php_version=${2:?usage: smoke-test.sh IMAGE PHP_VERSION}

fail() {
    printf 'smoke-test.sh: %s: FAILED: %s\n' "$image" "$*" >&2
    exit 1
}

app_dir=$(mktemp -d)
container=""
cleanup() {
    if [[ -n $container ]]; then
        docker rm -f "$container" >/dev/null 2>&1 || true
    fi
    rm -rf -- "$app_dir"
}
trap cleanup EXIT

mkdir -p "$app_dir/public"
printf '<?php echo "php ", PHP_VERSION, "\\n";\n' >"$app_dir/public/index.php"
chmod -R a+rX "$app_dir"

started=$(date +%s%N)
container=$(docker run -d -p 127.0.0.1::80 \
    -v "$app_dir/public:/var/www/html/public:ro" "$image")
port=$(docker port "$container" 80/tcp | head -n 1 | sed 's/.*://')

# 1. /health within 5 s, polled every 100 ms.
healthy=false
for _ in $(seq 50); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$port/health"; then
        healthy=true
        break
    fi
    sleep 0.1
done
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
if [[ $healthy != true ]] || ((elapsed_ms > 5000)); then
    docker logs "$container" >&2 || true
    fail "/health did not answer 200 within 5 s (waited ${elapsed_ms} ms)"
fi
echo "smoke-test.sh: /health answered 200 after ${elapsed_ms} ms"

# 2. The PHP page shows the expected version.
page=$(curl -fsS "http://127.0.0.1:$port/index.php") \
    || fail "GET /index.php failed"
[[ $page == "php $php_version."* ]] \
    || fail "GET /index.php printed \"$page\", expected PHP $php_version.x"
echo "smoke-test.sh: $page"

# 3. A one-off command through the entrypoint.
version_line=$(docker run --rm "$image" php -v | head -n 1)
[[ $version_line == "PHP $php_version."* ]] \
    || fail "php -v printed \"$version_line\", expected PHP $php_version.x"
echo "smoke-test.sh: $version_line"

# 4. A graceful stop within 3 s. docker stop's own timeout is 10 s, so a
# slower stop shows up as a time over 3 s, not as a SIGKILL.
started=$(date +%s%N)
docker stop -t 10 "$container" >/dev/null
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
((elapsed_ms <= 3000)) || fail "docker stop took ${elapsed_ms} ms, more than 3 s"
exit_code=$(docker inspect -f '{{.State.ExitCode}}' "$container")
[[ $exit_code == 0 ]] || fail "the container exited with code $exit_code after docker stop"
echo "smoke-test.sh: docker stop took ${elapsed_ms} ms, exit code 0"
echo "smoke-test.sh: $image passed"
