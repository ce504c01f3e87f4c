"""How long systemd may wait for the daemon, from its config: the watchdog and the stop.

The daemon tells systemd's watchdog it is alive at the end of each tick, so the watchdog must
outlast the interval plus the longest tick the config allows. A stop cuts every ready or drain
wait short, so it waits only for the call in progress and what the daemon undoes after it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from autoscaler.signals.bullmq_queue import QueueSignal

if TYPE_CHECKING:
    from autoscaler.config.settings import Settings

DOCKER_CALL_SECONDS = 60.0
"""The longest one Docker call is expected to take: `docker stop` waits out a container's
stop_grace_period (40 s for the shipped worker)."""
_DOCKER_CALLS_PER_SCALE = 5
"""A routed scale-in: upstream reload, stop, remove, compose up, and the listing after it."""
_REDIS_CALLS_PER_QUEUE = 4
_STOP_DOCKER_CALLS = 3
"""The call in progress, then the upstream rebuilt from what runs: a listing and a reload."""


def longest_waits(settings: Settings) -> float:
    """The ready and drain waits of a tick that scales every service, each to its timeout."""
    return sum(_longest_wait(settings, service) for service in settings.services)


def watchdog_seconds(settings: Settings) -> int:
    """The daemon's `watchdog_seconds`, else the interval plus the longest tick."""
    if settings.daemon.watchdog_seconds is not None:
        return math.ceil(settings.daemon.watchdog_seconds)
    scaling = len(settings.services) * _DOCKER_CALLS_PER_SCALE * DOCKER_CALL_SECONDS
    longest_tick = _reads_seconds(settings) + longest_waits(settings) + scaling
    return math.ceil(settings.daemon.interval_seconds + longest_tick)


def stop_seconds(settings: Settings) -> int:
    """The reads of the tick in progress, its Docker calls, and the lease's release."""
    docker = _STOP_DOCKER_CALLS * DOCKER_CALL_SECONDS
    return math.ceil(_reads_seconds(settings) + docker + settings.redis.timeout_seconds)


def _longest_wait(settings: Settings, service: str) -> float:
    drain = (
        settings.nginx.drain_timeout_seconds if service == settings.nginx.upstream_service else 0
    )
    return max(settings.compose.ready_timeout_seconds, drain)


def _reads_seconds(settings: Settings) -> float:
    """Every read of a tick timing out: the lease, each queue, nginx, and the Docker listing."""
    queues = sum(
        isinstance(signal, QueueSignal)
        for policy in settings.services.values()
        for signal in policy.signals
    )
    redis_calls = 1 + _REDIS_CALLS_PER_QUEUE * queues
    return (
        redis_calls * settings.redis.timeout_seconds
        + settings.nginx.timeout_seconds
        + DOCKER_CALL_SECONDS
    )
