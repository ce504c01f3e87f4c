"""`compose-flowise status` when the daemon's last tick is not fresh (or the state file not as
the daemon writes it): one observation and decision of its own through the daemon's own path
(`Autoscaler.preview`), told as `status_report` tells a fresh tick. Every read is bounded by a
short timeout: a server that accepts and never answers is reported down, quickly. Reads only;
never acts, never shows a secret."""

from __future__ import annotations

import time
from typing import Any

import redis
from pydantic import TypeAdapter

from autoscaler.config import Settings
from autoscaler.policy import Unavailable
from autoscaler.runtime import wiring
from autoscaler.runtime.lease import lease_holder
from autoscaler.runtime.observe import Observed, ReplicaSource, Sensors, observed_with
from autoscaler.runtime.state import State, StateError, TickRecord
from autoscaler.runtime.status_report import FROM_THE_DAEMON, READ_TIMEOUT_SECONDS, is_fresh, report

# Rates need two reads; without a daemon, status waits this long between them, and only when
# every source answered the first: one that did not would only make the operator wait twice.
SAMPLE_SECONDS = 1.0
# The longest one docker command may take: it starts a process and the engine inspects.
DOCKER_TIMEOUT_SECONDS = 3.0

_STATE = TypeAdapter(State)
_TICK = TypeAdapter(TickRecord)


def gather(settings: Settings) -> dict[str, Any]:
    now = time.time()
    settings = _bounded(settings)
    data = settings.model_dump(mode="json", exclude_none=True)
    state, state_error = _state(settings)
    last = state.last_tick if state else None
    if last is not None and is_fresh(last.at, data, now):
        record, source = last, FROM_THE_DAEMON
    else:
        record, source = _preview(settings, state or State()), "status, no fresh daemon tick"
    down = dict(record.down)
    holder = _lease_holder(settings, down)
    state_data = _STATE.dump_python(state, mode="json") if state else None
    record_data = _TICK.dump_python(record, mode="json")
    errors = [state_error] if state_error else []
    return report(data, state_data, record_data, source, now, holder, down, errors)


def _bounded(settings: Settings) -> Settings:
    """`settings` with Redis and nginx timeouts no longer than READ_TIMEOUT_SECONDS."""
    bounded = {
        section: getattr(settings, section).model_copy(update={
            "timeout_seconds": min(getattr(settings, section).timeout_seconds,
                                   READ_TIMEOUT_SECONDS),
        })
        for section in ("redis", "nginx")
    }  # fmt: skip
    return settings.model_copy(update=bounded)


def _state(settings: Settings) -> tuple[State | None, str | None]:
    try:
        return wiring.state_store(settings).read(), None
    except StateError as error:
        return None, str(error)


def _preview(settings: Settings, state: State) -> TickRecord:
    """What a tick would decide now, without acting."""
    autoscaler = wiring.autoscaler(
        settings, dry_run=True, docker_timeout_seconds=DOCKER_TIMEOUT_SECONDS
    )
    return autoscaler.preview(_observe(autoscaler.sensors, autoscaler.replicas), state)


def _observe(sensors: Sensors, replicas: ReplicaSource) -> Observed:
    """One observation; a second read for the rates only when every source answered the first."""
    readings = sensors.read(time.time())
    if any(isinstance(reading, Unavailable) for reading in readings.values()):
        return observed_with(sensors, readings, replicas, time.time())
    time.sleep(SAMPLE_SECONDS)
    now = time.time()
    return observed_with(sensors, sensors.read(now), replicas, now)


def _lease_holder(settings: Settings, down: dict[str, str]) -> str | None:
    """Who holds the lease; "unknown" when Redis is down (recorded in `down` if newly seen)."""
    if "redis" in down:
        return "unknown"
    try:
        return lease_holder(wiring.redis_client(settings), settings.compose.project_name)
    except redis.RedisError as error:
        down["redis"] = f"the lease in Redis: {type(error).__name__}: {error}"
        return "unknown"
