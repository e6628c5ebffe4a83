#!/usr/bin/env bash
# Render the php-fpm and nginx fixture configs into a prefix directory.
#
# Usage: scripts/render-fixture.sh PREFIX
#
# Creates PREFIX (and PREFIX/run, PREFIX/tmp), writes PREFIX/php-fpm.conf and
# PREFIX/nginx.conf from tests/fixtures/php/*.conf.in, and writes PREFIX/env:
# KEY=value lines for the variables that phpeek-pm's built-in config reads,
# plus FIXTURE_DOCROOT, the directory actually served. It also prints
# PREFIX/env on stdout. Values never contain spaces or quotes, so
# `set -a; . PREFIX/env; set +a` loads and exports them.
#
# Run it as the user that will run php-fpm and nginx, because a non-root
# server must be able to write PREFIX/run and PREFIX/tmp.
#
# Settings, all optional, read from the environment:
#   NGINX_HTTP_PORT   TCP port nginx listens on at 127.0.0.1 (default 8080)
#   PHP_FPM_LISTEN    php-fpm's FastCGI address, 127.x.y.z:PORT
#                     (default 127.0.0.1:9000)
#   PHP_FPM_BIN       php-fpm binary (default: found on PATH or in /usr/sbin)
#   NGINX_BIN         nginx binary (default: found on PATH or in /usr/sbin)
#   FIXTURE_DOCROOT   directory to serve (default: examples/app/public)
#   FIXTURE_AS_ROOT   1 if php-fpm and nginx will start as root, 0 if not
#                     (default: 1 when this script runs as root)
#   FIXTURE_WORKER_USER, FIXTURE_WORKER_GROUP
#                     account of the php-fpm and nginx workers when they
#                     start as root (default nobody, and nogroup if that
#                     group exists, else nobody)
#   FIXTURE_FPM_CONTROL_TIMEOUT
#                     seconds php-fpm lets busy workers finish after SIGQUIT
#                     (default 10)
#
# As root, the workers must be able to read the docroot. When the worker
# user cannot, the docroot is copied to PREFIX/docroot and served from there.
set -euo pipefail

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname -- "$script_dir")
# shellcheck source=scripts/common.sh
. "$script_dir/common.sh"

# Paths end up in sed expressions and nginx directives unquoted, so accept
# only characters that are safe in both.
check_path() {
    local name=$1 value=$2
    [[ $value == /* ]] || die "$name must be an absolute path, got '$value'"
    [[ $value =~ ^[A-Za-z0-9/._+-]+$ ]] \
        || die "$name may contain only letters, digits and / . _ + -, got '$value'"
}

check_port() {
    local name=$1 value=$2
    if ! [[ $value =~ ^[1-9][0-9]{0,4}$ ]] || ((value > 65535)); then
        die "$name must be a TCP port from 1 to 65535, got '$value'"
    fi
}

# Succeed when the worker account can read every file under the docroot.
# find's -readable tests access(2) as the user find runs as.
worker_can_read() {
    local dir=$1 unreadable
    unreadable=$(setpriv --reuid="$worker_uid" --regid="$worker_gid" --clear-groups \
        find "$dir" ! -readable -print -quit 2>/dev/null) || return 1
    [[ -z $unreadable ]]
}

(($# == 1)) || die "usage: ${0##*/} PREFIX"

http_port=${NGINX_HTTP_PORT:-8080}
fpm_listen=${PHP_FPM_LISTEN:-127.0.0.1:9000}
docroot=${FIXTURE_DOCROOT:-$repo_dir/examples/app/public}
control_timeout=${FIXTURE_FPM_CONTROL_TIMEOUT:-10}
if [[ -n ${FIXTURE_AS_ROOT:-} ]]; then
    as_root=$FIXTURE_AS_ROOT
elif ((EUID == 0)); then
    as_root=1
else
    as_root=0
fi

check_port NGINX_HTTP_PORT "$http_port"
[[ $fpm_listen =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+:([0-9]+)$ ]] \
    || die "PHP_FPM_LISTEN must be a loopback address like 127.0.0.1:9000, got '$fpm_listen'"
check_port PHP_FPM_LISTEN "${BASH_REMATCH[1]}"
[[ $control_timeout =~ ^[0-9]+$ ]] \
    || die "FIXTURE_FPM_CONTROL_TIMEOUT must be whole seconds, got '$control_timeout'"
[[ $as_root == [01] ]] || die "FIXTURE_AS_ROOT must be 0 or 1, got '$as_root'"
[[ -d $docroot ]] || die "docroot not found: $docroot (set FIXTURE_DOCROOT)"
docroot=$(cd -- "$docroot" && pwd -P)

php_fpm_bin=$(find_php_fpm)
if [[ -z $php_fpm_bin && -n ${PHP_FPM_BIN:-} ]]; then
    die "PHP_FPM_BIN not found or not executable: $PHP_FPM_BIN"
fi
[[ -n $php_fpm_bin ]] \
    || die "php-fpm not found on PATH or in /usr/sbin. Install php8.2-fpm or set PHP_FPM_BIN"
nginx_bin=$(find_nginx)
if [[ -z $nginx_bin && -n ${NGINX_BIN:-} ]]; then
    die "NGINX_BIN not found or not executable: $NGINX_BIN"
fi
[[ -n $nginx_bin ]] \
    || die "nginx not found on PATH or in /usr/sbin. Install nginx-light or set NGINX_BIN"

# Check the name before creating anything, and again once symlinks in it
# are resolved.
prefix=$1
[[ $prefix == /* ]] || prefix=$PWD/$prefix
check_path PREFIX "$prefix"
mkdir -p -- "$prefix"
prefix=$(cd -- "$prefix" && pwd -P)
check_path PREFIX "$prefix"
check_path FIXTURE_DOCROOT "$docroot"
check_path PHP_FPM_BIN "$php_fpm_bin"
check_path NGINX_BIN "$nginx_bin"
mkdir -p -- "$prefix/run" "$prefix/tmp"

fpm_user_line='' fpm_group_line='' nginx_user_line=''
if ((as_root)); then
    worker_user=${FIXTURE_WORKER_USER:-nobody}
    if [[ -n ${FIXTURE_WORKER_GROUP:-} ]]; then
        worker_group=$FIXTURE_WORKER_GROUP
    elif getent group nogroup >/dev/null; then
        worker_group=nogroup
    else
        worker_group=nobody
    fi
    worker_uid=$(id -u -- "$worker_user") || die "worker user not found: $worker_user"
    worker_gid=$(getent group "$worker_group" | cut -d: -f3)
    [[ -n $worker_gid ]] || die "worker group not found: $worker_group"

    fpm_user_line="user = $worker_user"
    fpm_group_line="group = $worker_group"
    nginx_user_line="user $worker_user $worker_group;"

    # mktemp -d creates mode 0700, which keeps the nginx workers out of
    # PREFIX/tmp, where they buffer request and response bodies.
    chmod 0755 -- "$prefix" "$prefix/run" "$prefix/tmp"
    if ((EUID == 0)) && ! worker_can_read "$docroot"; then
        note "user $worker_user cannot read $docroot; serving a copy from $prefix/docroot"
        rm -rf -- "$prefix/docroot"
        cp -R -- "$docroot" "$prefix/docroot"
        chmod -R a+rX -- "$prefix/docroot"
        docroot=$prefix/docroot
    fi
    if ((EUID == 0)) && ! worker_can_read "$prefix/tmp"; then
        note "warning: user $worker_user cannot reach $prefix/tmp; nginx fails on large request bodies"
    fi
fi

render() {
    sed -e "s|@PREFIX@|$prefix|g" \
        -e "s|@DOCROOT@|$docroot|g" \
        -e "s|@HTTP_PORT@|$http_port|g" \
        -e "s|@FPM_LISTEN@|$fpm_listen|g" \
        -e "s|@FPM_CONTROL_TIMEOUT@|${control_timeout}s|g" \
        -e "s|@FPM_USER_LINE@|$fpm_user_line|g" \
        -e "s|@FPM_GROUP_LINE@|$fpm_group_line|g" \
        -e "s|@NGINX_USER_LINE@|$nginx_user_line|g" \
        "$1" >"$2"
    if grep -n '@[A-Z_]*@' "$2" >&2; then
        die "placeholders left unreplaced in $2 (listed above)"
    fi
}

fixtures=$repo_dir/tests/fixtures/php
render "$fixtures/php-fpm.conf.in" "$prefix/php-fpm.conf"
render "$fixtures/nginx.conf.in" "$prefix/nginx.conf"

cat >"$prefix/env" <<ENV
PHP_FPM_BIN=$php_fpm_bin
PHP_FPM_CONFIG=$prefix/php-fpm.conf
PHP_FPM_PREFIX=$prefix
PHP_FPM_LISTEN=$fpm_listen
NGINX_BIN=$nginx_bin
NGINX_PREFIX=$prefix
NGINX_CONFIG=$prefix/nginx.conf
NGINX_HTTP_PORT=$http_port
FIXTURE_DOCROOT=$docroot
ENV
cat -- "$prefix/env"
