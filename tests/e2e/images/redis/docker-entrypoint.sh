#!/bin/sh
set -e
# as the official image: `--opt ...` or `x.conf ...` alone mean redis-server
case "$1" in -*|*.conf) set -- redis-server "$@" ;; esac

if [ "$1" = redis-server ]; then
    # No config file given: listen on all interfaces without protected mode, which the official
    # image compiles in as defaults. Given first, so the caller's own options still win.
    case "${2:-}" in
        ''|-*) shift; set -- redis-server --bind 0.0.0.0 --protected-mode no "$@" ;;
    esac
    if [ "$(id -u)" = 0 ]; then
        find . \! -user redis -exec chown redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
