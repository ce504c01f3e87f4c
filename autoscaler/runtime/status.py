"""`compose-flowise status`: what is down, replicas, metrics, what the daemon would do and why,
the overrides and the daemon's last tick. From that tick when it is fresh (a daemon runs: no I/O
but the state file and the lease), else from one observation and decision of its own through the
daemon's own path (`Autoscaler.preview`). Every read is bounded by a short timeout: a server that
accepts and never answers is reported down, quickly. Reads only; never acts, never shows a
secret."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import redis

from autoscaler.actuators.replicas import PAUSED, WARMING
from autoscaler.config import Settings
from autoscaler.policy import Unavailable
from autoscaler.runtime import wiring
from autoscaler.runtime.lease import lease_holder
from autoscaler.runtime.observe import Observed, ReplicaSource, Sensors, observed_with
from autoscaler.runtime.state import DeafMainEvent, Hold, State, StateError, StateFile, TickRecord

# Rates need two reads; without a daemon, status waits this long between them, and only when
# every source answered the first: one that did not would only make the operator wait twice.
SAMPLE_SECONDS = 1.0
# A tick at most this many intervals old still tells the stack as it is.
FRESH_INTERVALS = 3
# The longest status waits for Redis or nginx to answer one call (the config's, if shorter).
READ_TIMEOUT_SECONDS = 1.0
# The longest one docker command may take: it starts a process and the engine inspects.
DOCKER_TIMEOUT_SECONDS = 3.0


def gather(settings: Settings) -> dict[str, Any]:
    now = time.time()
    settings = _bounded(settings)
    state, state_error = _state(settings)
    last = state.last_tick if state else None
    if last is not None and now - last.at <= FRESH_INTERVALS * settings.daemon.interval_seconds:
        record, source = last, "the daemon's last tick"
    else:
        record, source = _preview(settings, state or State()), "status, no fresh daemon tick"
    down = dict(record.down)
    holder = _lease_holder(settings, down)
    return {
        "project": settings.compose.project_name,
        "from": source,
        "down": down,
        "services": {
            name: _service(name, settings, record, state, down, now) for name in settings.services
        },
        "metrics": dict(record.readings),
        "daemon": _daemon(last, holder, now, state.held(now) if state else None),
        "deaf_mains": [_deaf_main(event) for event in state.deaf_mains] if state else [],
        "errors": list(record.errors) + ([state_error] if state_error else []),
    }


def exit_code(report: dict[str, Any]) -> int:
    """0 when every source answered, 1 when any is down."""
    return 1 if report["down"] else 0


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
        return StateFile(settings.daemon.state_file).read(), None
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


def _service(
    name: str,
    settings: Settings,
    record: TickRecord,
    state: State | None,
    down: dict[str, str],
    now: float,
) -> dict[str, Any]:
    policy = settings.services[name]
    seen = None if "docker" in down else record.services.get(name)
    entry: dict[str, Any] = {
        "min_replicas": policy.min_replicas,
        "max_replicas": policy.max_replicas,
        "replicas": [
            {"name": n, "state": s, "health": h} for n, s, h in (seen.replicas if seen else ())
        ],
        "running": seen.current if seen else None,
        "ready": seen.ready if seen else None,
        "warm": sum(s in (PAUSED, WARMING) for _, s, _ in (seen.replicas if seen else ())),
        "warm_replicas": policy.warm_replicas,
        "override": None,
    }
    if seen is not None:
        entry["would_scale_to"] = seen.desired
        entry["why"] = seen.explanation
        entry["plan"] = list(seen.plan)
        entry["in_progress"] = seen.in_progress
    override = state.history(name).override if state else None
    if override is not None and override.active(now):
        entry["override"] = {"replicas": override.replicas, "until": _iso(override.until)}
    return entry


def _daemon(
    last: TickRecord | None, lease_holder: str | None, now: float, hold: Hold | None
) -> dict[str, Any]:
    return {
        "lease_holder": lease_holder,
        "held": None if hold is None else {"reason": hold.reason, "until": _iso(hold.until)},
        "last_tick": None if last is None else {
            "at": _iso(last.at),
            "seconds_ago": round(now - last.at, 1),
            "by": last.holder,
            "leading": last.leading,
            "errors": list(last.errors),
        },
    }  # fmt: skip


def _deaf_main(event: DeafMainEvent) -> dict[str, Any]:
    return {"at": _iso(event.at), "replica": event.replica, "action": event.action,
            "reason": event.reason}  # fmt: skip


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def render(report: dict[str, Any]) -> str:
    lines = [f"project {report['project']} (from {report['from']})"]
    lines += [f"DOWN {source}: {reason}" for source, reason in report["down"].items()]
    for name, service in report["services"].items():
        lines += _render_service(name, service, report["down"])
    for name, figures in report["metrics"].items():
        if isinstance(figures, str):
            lines.append(f"{name}: unavailable: {figures}")
            continue
        shown = ", ".join(
            f"{key} {'?' if value is None else value}" for key, value in figures.items()
        )
        lines.append(f"{name}: {shown}")
    lines += _render_daemon(report["daemon"])
    lines += [
        f"deaf main: {deaf['replica']} at {deaf['at']}: {deaf['action']}: {deaf['reason']}"
        for deaf in report["deaf_mains"]
    ]
    lines += [f"error: {error}" for error in report["errors"]]
    return "\n".join(lines)


def _render_service(name: str, service: dict[str, Any], down: dict[str, str]) -> list[str]:
    bounds = f"(min {service['min_replicas']}, max {service['max_replicas']})"
    if service["running"] is None:
        why = "Docker unreachable" if "docker" in down else "not in the last tick"
        lines = [f"{name}: replicas unknown, {why} {bounds}"]
    else:
        pool = f", {service['warm']} warm of {service['warm_replicas']}"
        shown_pool = pool if service["warm_replicas"] or service["warm"] else ""
        lines = [
            f"{name}: {service['running']} running, {service['ready']} ready{shown_pool} {bounds}"
        ]
    for replica in service["replicas"]:
        lines.append(f"  {replica['name']}  {replica['state']}  {replica['health'] or '-'}")
    if "why" in service:
        lines.append(f"  would scale to {service['would_scale_to']}: {service['why']}")
        lines += [f"    then: {step}" for step in service["plan"]]
    if service.get("in_progress"):
        lines.append(f"  acting: {service['in_progress']}")
    if service["override"]:
        override = service["override"]
        until = override["until"] or "for good"
        lines.append(f"  override: pinned at {override['replicas']} until {until}")
    return lines


def _render_daemon(daemon: dict[str, Any]) -> list[str]:
    last = daemon["last_tick"]
    if last is None:
        lines = ["daemon: no tick recorded"]
    else:
        role = "leading" if last["leading"] else "standing by"
        lines = [f"daemon: last tick {last['seconds_ago']}s ago by {last['by']} ({role})"]
    held = daemon.get("held")
    if held:
        lines.append(f"held, acting on nothing: {held['reason']} (at most until {held['until']})")
    return [*lines, f"lease: {daemon['lease_holder'] or 'free'}"]
