"""`compose-flowise status`: replicas, metrics, what the daemon would do and why, the overrides
and the daemon's last tick. From that tick when it is fresh (a daemon runs: no I/O but the state
file), else from one observation and decision of its own through the daemon's own path
(`Autoscaler.preview`). Reads only; never acts, never shows a secret."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from autoscaler.actuators.replicas import PAUSED, WARMING
from autoscaler.config import Settings
from autoscaler.runtime import wiring
from autoscaler.runtime.lease import lease_holder
from autoscaler.runtime.state import DeafMainEvent, State, StateError, StateFile, TickRecord

# Rates need two reads; without a daemon, status waits this long between them.
SAMPLE_SECONDS = 1.0
# A tick at most this many intervals old still tells the stack as it is.
FRESH_INTERVALS = 3


def gather(settings: Settings) -> dict[str, Any]:
    now = time.time()
    state, state_error = _state(settings)
    last = state.last_tick if state else None
    if last is not None and now - last.at <= FRESH_INTERVALS * settings.daemon.interval_seconds:
        record, source = last, "the daemon's last tick"
    else:
        record, source = _preview(settings, state or State()), "status, no fresh daemon tick"
    holder = lease_holder(wiring.redis_client(settings), settings.compose.project_name)
    return {
        "project": settings.compose.project_name,
        "from": source,
        "services": {
            name: _service(name, settings, record, state, now) for name in settings.services
        },
        "metrics": dict(record.readings),
        "daemon": _daemon(last, holder, now),
        "deaf_mains": [_deaf_main(event) for event in state.deaf_mains] if state else [],
        "errors": list(record.errors) + ([state_error] if state_error else []),
    }


def _state(settings: Settings) -> tuple[State | None, str | None]:
    try:
        return StateFile(settings.daemon.state_file).read(), None
    except StateError as error:
        return None, str(error)


def _preview(settings: Settings, state: State) -> TickRecord:
    """What a tick would decide now, without acting: two reads, for the rates."""
    autoscaler = wiring.autoscaler(settings, dry_run=True)
    autoscaler.sensors.read(time.time())
    time.sleep(SAMPLE_SECONDS)
    return autoscaler.preview(autoscaler.observe(), state)


def _service(
    name: str, settings: Settings, record: TickRecord, state: State | None, now: float
) -> dict[str, Any]:
    policy = settings.services[name]
    seen = record.services.get(name)
    entry: dict[str, Any] = {
        "min_replicas": policy.min_replicas,
        "max_replicas": policy.max_replicas,
        "replicas": [
            {"name": n, "state": s, "health": h} for n, s, h in (seen.replicas if seen else ())
        ],
        "running": seen.current if seen else 0,
        "ready": seen.ready if seen else 0,
        "warm": sum(s in (PAUSED, WARMING) for _, s, _ in (seen.replicas if seen else ())),
        "warm_replicas": policy.warm_replicas,
        "override": None,
    }
    if seen is not None:
        entry["would_scale_to"] = seen.desired
        entry["why"] = seen.explanation
        entry["plan"] = list(seen.plan)
    override = state.history(name).override if state else None
    if override is not None and override.active(now):
        entry["override"] = {"replicas": override.replicas, "until": _iso(override.until)}
    return entry


def _daemon(last: TickRecord | None, lease_holder: str | None, now: float) -> dict[str, Any]:
    return {
        "lease_holder": lease_holder,
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
    for name, service in report["services"].items():
        pool = f", {service['warm']} warm of {service['warm_replicas']}"
        lines.append(
            f"{name}: {service['running']} running, {service['ready']} ready"
            f"{pool if service['warm_replicas'] or service['warm'] else ''} "
            f"(min {service['min_replicas']}, max {service['max_replicas']})"
        )
        for replica in service["replicas"]:
            lines.append(f"  {replica['name']}  {replica['state']}  {replica['health'] or '-'}")
        if "why" in service:
            lines.append(f"  would scale to {service['would_scale_to']}: {service['why']}")
            lines += [f"    then: {step}" for step in service["plan"]]
        if service["override"]:
            override = service["override"]
            until = override["until"] or "for good"
            lines.append(f"  override: pinned at {override['replicas']} until {until}")
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


def _render_daemon(daemon: dict[str, Any]) -> list[str]:
    last = daemon["last_tick"]
    if last is None:
        lines = ["daemon: no tick recorded"]
    else:
        role = "leading" if last["leading"] else "standing by"
        lines = [f"daemon: last tick {last['seconds_ago']}s ago by {last['by']} ({role})"]
    return [*lines, f"lease: {daemon['lease_holder'] or 'free'}"]
