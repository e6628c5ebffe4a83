# shellcheck shell=bash
# Source this file to make podman usable for the image tests and benches.
#
# It installs podman, runc and skopeo with apt-get (after apt-get update)
# when one is missing and the shell runs as root. Then it writes a private
# containers.conf and exports CONTAINERS_CONF pointing at it. Nothing
# system-wide is reconfigured.
#
# Why a private containers.conf: crun refuses to start containers on hosts
# with hybrid cgroups (v1 controllers plus a cgroup2 mount that still has
# controllers). Without CAP_SYS_RESOURCE, podman's default ulimits (nofile
# above the hard limit, nproc above conmon's) make runc fail with "error
# setting rlimit". runc with the cgroupfs manager and ulimits at or below
# the hard limits works on such hosts and on cgroup v2 machines alike.

phpeek_podman_setup() {
    local missing=()
    local tool
    for tool in podman runc skopeo; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    if ((${#missing[@]} > 0)); then
        if ((EUID != 0)); then
            echo "podman-env.sh: ${missing[*]} missing, and installing needs root" >&2
            return 1
        fi
        apt-get update -q >&2 || return 1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 || return 1
    fi

    local dir=${PHPEEK_PODMAN_CONF_DIR:-${TMPDIR:-/tmp}/phpeek-image-podman}
    local nofile
    nofile=$(ulimit -Hn)
    # conmon runs with a hard NPROC of 32768 on Debian 12, so the
    # container's limit must stay at or below it.
    mkdir -p "$dir" || return 1
    cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
    export CONTAINERS_CONF="$dir/containers.conf"
}
