# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it from bash:
#   . "$(dirname -- "${BASH_SOURCE[0]}")/common.sh"

# Print an error naming the calling script and exit with status 1.
die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    exit 1
}

# Print a progress message on stderr, so stdout stays free for data.
note() {
    printf '%s: %s\n' "${0##*/}" "$*" >&2
}

# Print the absolute path of the php-fpm binary, or nothing.
#
# PHP_FPM_BIN wins when set. Otherwise this takes "php-fpm" from PATH, then
# the highest versioned "php-fpmX.Y" from PATH or /usr/sbin, because Debian
# installs only /usr/sbin/php-fpm8.2 (bookworm) and /usr/sbin is not on the
# PATH of ordinary users.
find_php_fpm() {
    if [[ -n ${PHP_FPM_BIN:-} ]]; then
        command -v -- "$PHP_FPM_BIN" || true
        return
    fi
    if command -v php-fpm; then
        return
    fi

    local dir candidate path_dirs candidates=()
    IFS=: read -r -a path_dirs <<<"$PATH"
    for dir in "${path_dirs[@]}" /usr/local/sbin /usr/sbin; do
        for candidate in "$dir"/php-fpm[0-9]*; do
            [[ -x $candidate ]] && candidates+=("$candidate")
        done
    done
    if ((${#candidates[@]} > 0)); then
        # Sort on the file name alone so that the version decides.
        for candidate in "${candidates[@]}"; do
            printf '%s %s\n' "${candidate##*/}" "$candidate"
        done | sort -V -k1,1 | tail -n 1 | cut -d' ' -f2-
    fi
}

# Print the absolute path of the nginx binary, or nothing. NGINX_BIN wins
# when set, then nginx from PATH, then /usr/sbin/nginx.
find_nginx() {
    if [[ -n ${NGINX_BIN:-} ]]; then
        command -v -- "$NGINX_BIN" || true
        return
    fi
    command -v nginx && return
    if [[ -x /usr/sbin/nginx ]]; then
        printf '%s\n' /usr/sbin/nginx
    fi
}

# Succeed when any of the named Debian packages is installed.
package_installed() {
    local package
    for package in "$@"; do
        if dpkg-query -W -f='${Status}' "$package" 2>/dev/null \
            | grep -q 'install ok installed'; then
            return 0
        fi
    done
    return 1
}

# Succeed when something accepts TCP connections on HOST:PORT.
port_in_use() {
    (: <>"/dev/tcp/$1/$2") 2>/dev/null
}

# Print a TCP port on 127.0.0.1 that was free a moment ago.
free_loopback_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Make a temporary folder, named in $work, for a script that starts
# phpeek-pm and puts its PID in $pm_pid. On exit, that phpeek-pm gets
# SIGTERM and is waited for, and the folder is removed.
make_pm_work_dir() {
    work=$(mktemp -d)
    pm_pid=
    trap stop_pm_and_remove_work_dir EXIT
}

stop_pm_and_remove_work_dir() {
    if [[ -n ${pm_pid:-} ]] && kill -0 "$pm_pid" 2>/dev/null; then
        kill -TERM "$pm_pid"
        wait "$pm_pid" || true
    fi
    rm -rf -- "$work"
}
