#!/usr/bin/env bash
# Measure the cold start of the phpeek images: the time from `podman run
# --detach` to the first HTTP 200 from nginx's /health through a port
# published on 127.0.0.1.
#
# Usage: bench/image-cold-start.sh [--runs N] [IMAGE...]
#
# IMAGE defaults to the two images phpeek-image builds:
#   localhost/phpeek/php-fpm-nginx:8.2-bookworm
#   localhost/phpeek/php-fpm-nginx:8.4-trixie
# Build and load them first, for example with
#   phpeek-image build images/definitions/php-fpm-nginx-8.2-bookworm.toml --load
# Each run starts a new container named phpeek-bench-cold-start-<pid>-<n>,
# polls /health every 10 ms with curl, and removes the container. The
# first run of each image also pays for podman's first use of its layers,
# so it is reported but left out of the median (the lower of the two middle
# values for an even count). Output: one line per run
# on stderr, then one summary line per image on stdout.
set -euo pipefail

repo_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/common.sh
. "$repo_dir/scripts/common.sh"
# shellcheck source=images/tests/podman-env.sh
. "$repo_dir/images/tests/podman-env.sh"

runs=5
images=()
while (($# > 0)); do
    case $1 in
        --runs)
            [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive whole number"
            runs=$2
            shift 2
            ;;
        -*) die "unknown option $1 (usage: ${0##*/} [--runs N] [IMAGE...])" ;;
        *)
            images+=("$1")
            shift
            ;;
    esac
done
if ((${#images[@]} == 0)); then
    images=(localhost/phpeek/php-fpm-nginx:8.2-bookworm localhost/phpeek/php-fpm-nginx:8.4-trixie)
fi
command -v curl >/dev/null || die "curl not found; install it with: apt-get install curl"
command -v python3 >/dev/null || die "python3 not found; install it with: apt-get install python3"
phpeek_podman_setup || die "podman is not usable"

container=""
cleanup() {
    if [[ -n $container ]]; then
        podman rm --force --time 0 "$container" >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# Prints the milliseconds from `podman run` to the first 200 from /health.
measure_once() {
    local image=$1 name=$2 port start
    port=$(free_port)
    start=$(now_ms)
    container=$name
    podman run --detach --name "$name" --publish "127.0.0.1:$port:80" "$image" >/dev/null
    local deadline=$((start + 30000))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/health") == 200 ]]; do
        if (($(now_ms) > deadline)); then
            podman logs "$name" >&2 || true
            die "$image: no 200 from /health within 30 s"
        fi
        sleep 0.01
    done
    echo $(($(now_ms) - start))
    podman rm --force --time 0 "$name" >/dev/null
    container=""
}

for image in "${images[@]}"; do
    podman image exists "$image" || die "$image is not in podman storage; build it with phpeek-image build ... --load"
    times=()
    for ((n = 0; n <= runs; n++)); do
        ms=$(measure_once "$image" "phpeek-bench-cold-start-$$-$n")
        if ((n == 0)); then
            note "$image: first run $ms ms (not counted)"
        else
            note "$image: run $n: $ms ms"
            times+=("$ms")
        fi
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    median=$(sed -n "$(((runs + 1) / 2))p" <<<"$sorted")
    printf '%s: median %s ms, min %s ms, max %s ms over %s runs\n' \
        "$image" "$median" "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")" "$runs"
done
