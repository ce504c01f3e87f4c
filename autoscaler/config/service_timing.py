"""How long systemd may wait for the daemon, from its config: the watchdog and the stop.

The watchdog guards the tick loop. Each tick tells it the daemon is alive as it ends, and a
tick only reads and starts actions: each scaling or restart runs in a thread of its own and
never holds up a tick (runtime/actions.py). So the watchdog outlasts a few intervals plus the
longest tick, every read of which times out; no ready or drain wait is in it.

A stop ends every wait (readiness, drain, a job's finish) at once, but neither a tick in
progress nor the Docker call each action or the pool refill is in: the stop waits for them,
all running at once, then for what an interrupted action undoes and the lease's release.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from autoscaler.signals.bullmq_queue import QueueSignal

if TYPE_CHECKING:
    from autoscaler.config.settings import Settings

DOCKER_CALL_SECONDS = 60.0
"""The longest one Docker call is expected to take: `docker stop` waits out a container's
stop_grace_period (40 s for the shipped worker, which finishes its jobs meanwhile)."""
TICKS_LATE = 3
"""Intervals the watchdog lets pass on top of the longest tick: the scheduler coalesces a tick
that comes late, and a reload of the config runs before a tick."""
_TICK_DOCKER_CALLS = 4
"""A tick's own Docker calls: the listing, the upstream made to match (nginx -t, reload) and
the deaf mains' read of nginx's connections."""
_PLAN_DOCKER_CALLS = 1
"""Per service, a scale-in's plan reads its replicas' work: nginx's connections to the mains,
a new worker's log for its BullMQ ids."""
_UNDO_DOCKER_CALLS = 3
"""After an interrupted action, the upstream rebuilt from what runs: a listing, nginx -t and a
reload."""
_REDIS_CALLS_PER_QUEUE = 4


def watchdog_seconds(settings: Settings) -> int:
    """The daemon's `watchdog_seconds`, else a few intervals plus the longest tick."""
    if settings.daemon.watchdog_seconds is not None:
        return math.ceil(settings.daemon.watchdog_seconds)
    return math.ceil(TICKS_LATE * settings.daemon.interval_seconds + _longest_tick(settings))


def shortest_watchdog(settings: Settings) -> float:
    """Below this a watchdog would restart a daemon whose tick only waits on its reads: the
    interval plus each Redis and nginx read timing out (Docker calls have no timeout of their
    own: a watchdog is what ends a daemon stuck on one)."""
    return settings.daemon.interval_seconds + _bounded_reads_seconds(settings)


def stop_seconds(settings: Settings) -> int:
    """The tick in progress, or an action's (or the refill's) Docker call in progress and the
    upstream rebuilt after it, whichever is longer; then the lease's release."""
    action = (1 + _UNDO_DOCKER_CALLS) * DOCKER_CALL_SECONDS
    return math.ceil(max(_longest_tick(settings), action) + settings.redis.timeout_seconds)


def _longest_tick(settings: Settings) -> float:
    """Every read of a tick timing out, and each of its Docker calls at its slowest."""
    docker_calls = _TICK_DOCKER_CALLS + _PLAN_DOCKER_CALLS * len(settings.services)
    return _bounded_reads_seconds(settings) + docker_calls * DOCKER_CALL_SECONDS


def _bounded_reads_seconds(settings: Settings) -> float:
    """The lease, each queue and nginx's stub_status, each read timing out."""
    queues = sum(
        isinstance(signal, QueueSignal)
        for policy in settings.services.values()
        for signal in policy.signals
    )
    redis_calls = 1 + _REDIS_CALLS_PER_QUEUE * queues
    return redis_calls * settings.redis.timeout_seconds + settings.nginx.timeout_seconds
