#!/bin/sh
# Runs a Flowise main (the command given) and, when it is asked to stop, lets it finish what it
# serves first: what a Kubernetes preStop hook does, for a Swarm. On a Swarm, Swarm and not the
# autoscaler picks the task a scale-in stops, and Flowise cuts its requests in flight on SIGTERM.
# On SIGTERM (or SIGINT) this waits DRAIN_SETTLE_SECONDS, time for the autoscaler to take the
# task out of nginx's upstream (it does so at its next tick), then until no TCP connection to
# DRAIN_PORT has been open for two reads a second apart, at most DRAIN_TIMEOUT_SECONDS in all,
# and only then sends the process SIGTERM. The stack's stop_grace_period must outlast both waits
# and Flowise's own shutdown. POSIX sh and awk only: Flowise's image is Alpine (busybox).
set -u

port="${DRAIN_PORT:-3000}"
settle_seconds="${DRAIN_SETTLE_SECONDS:-5}"
timeout_seconds="${DRAIN_TIMEOUT_SECONDS:-60}"

connections_to_port() {
    # Established sockets (state 01) whose local address ends with the port, in hex.
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v port=":$(printf '%04X' "$port")" \
            'substr($2, length($2) - 4) == port && $4 == "01" { open++ } END { print open + 0 }'
}

drain_then_stop() {
    echo "drain-on-sigterm: asked to stop: draining port $port first" >&2
    sleep "$settle_seconds"
    waited=$settle_seconds
    quiet_reads=0
    while [ "$quiet_reads" -lt 2 ] && [ "$waited" -lt "$timeout_seconds" ]; do
        if [ "$(connections_to_port)" -eq 0 ]; then
            quiet_reads=$((quiet_reads + 1))
        else
            quiet_reads=0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "drain-on-sigterm: drained after ${waited}s: stopping the process" >&2
    kill -s TERM "$child" 2>/dev/null
}

"$@" &
child=$!
# SIGINT too, passed on as SIGTERM: a process started in the background ignores SIGINT.
trap drain_then_stop TERM INT

# `wait` returns early when a trapped signal arrives: wait again until the process has ended.
while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || exit "$status"
done
