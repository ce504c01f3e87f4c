#!/bin/bash
# A small version of the official postgres image's entrypoint: POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, POSTGRES_HOST_AUTH_METHOD, POSTGRES_INITDB_ARGS, PGDATA, /docker-entrypoint-initdb.d.
set -Eeo pipefail
[[ ${1:-} == -* ]] && set -- postgres "$@"
[[ ${1:-} == postgres ]] || exec "$@"

export PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [[ $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 700 "$PGDATA"
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    HOME=/var/lib/postgresql exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ! -s $PGDATA/PG_VERSION ]]; then
    POSTGRES_USER=${POSTGRES_USER:-postgres}
    POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    if [[ -z ${POSTGRES_PASSWORD:-} && $auth != trust ]]; then
        echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    pwfile=()
    [[ -n ${POSTGRES_PASSWORD:-} ]] && pwfile=(--pwfile=/dev/stdin)
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as upstream
    initdb --username="$POSTGRES_USER" "${pwfile[@]}" ${POSTGRES_INITDB_ARGS:-} \
        <<<"${POSTGRES_PASSWORD:-}"
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # temporary server on the unix socket only, for the database and the init scripts
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start
    psql=(psql -v ON_ERROR_STOP=1 --no-password --no-psqlrc --username "$POSTGRES_USER")
    if [[ $POSTGRES_DB != postgres ]]; then
        "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090  # init scripts are sourced, as upstream does
        case $f in
            *.sh) echo "running $f"; . "$f" ;;
            *.sql) echo "running $f"; "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "running $f"; gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    echo "PostgreSQL init process complete; ready for start up."
fi
exec "$@"
