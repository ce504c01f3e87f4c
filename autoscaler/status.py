"""`compose-flowise status`: replicas, metrics now, what the daemon would do and why, the
overrides and the daemon's last tick. Reads only; never acts, never shows a secret."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from autoscaler import wiring
from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.scaling import Snapshot
from autoscaler.config import Settings
from autoscaler.lease import Lease
from autoscaler.metrics import HttpLoad, QueueLoad, Unavailable
from autoscaler.policy import Observation, decide
from autoscaler.policy.model import Reading
from autoscaler.policy.parameters import ServicePolicy
from autoscaler.state import State, StateError, StateFile

# Rates need two reads; status waits this long between them.
SAMPLE_SECONDS = 1.0


def gather(settings: Settings) -> dict[str, Any]:
    now, readings = _read_metrics(settings)
    snapshot, docker_error = _replicas(settings)
    state, state_error = _state(settings)
    services = {
        name: _service(name, policy, snapshot, state, readings, now)
        for name, policy in settings.services.items()
    }
    lease = Lease(wiring.redis_client(settings), settings.compose.project_name, "status", 1)
    return {
        "project": settings.compose.project_name,
        "services": services,
        "metrics": _metrics(readings),
        "daemon": _daemon(state, lease.current_holder(), now),
        "errors": [e for e in (docker_error, state_error) if e],
    }


def _read_metrics(settings: Settings) -> tuple[float, dict[str, Reading]]:
    """Two reads, SAMPLE_SECONDS apart, so that the rates are known."""
    sources = wiring.sources(settings)
    sources.read(time.time(), settings.services)
    time.sleep(SAMPLE_SECONDS)
    now = time.time()
    return now, sources.read(now, settings.services)


def _replicas(settings: Settings) -> tuple[Snapshot | None, str | None]:
    try:
        return wiring.scaler(settings).snapshot(), None
    except ActuatorError as error:
        return None, str(error)


def _state(settings: Settings) -> tuple[State | None, str | None]:
    try:
        return StateFile(settings.daemon.state_file).read(), None
    except StateError as error:
        return None, str(error)


def _service(
    name: str,
    policy: ServicePolicy,
    snapshot: Snapshot | None,
    state: State | None,
    readings: dict[str, Reading],
    now: float,
) -> dict[str, Any]:
    replicas = (snapshot or {}).get(name, [])
    current = sum(r.state == "running" for r in replicas)
    ready = sum(r.routable for r in replicas)
    entry: dict[str, Any] = {
        "min_replicas": policy.min_replicas,
        "max_replicas": policy.max_replicas,
        "replicas": [{"name": r.name, "state": r.state, "health": r.health} for r in replicas],
        "running": current,
        "ready": ready,
        "override": None,
    }
    if state is None:
        return entry
    history = state.history(name)
    if snapshot is not None:
        decision = decide(name, policy, Observation(current, ready, readings), history, now)
        entry["would_scale_to"] = decision.replicas
        entry["why"] = decision.explain()
    override = history.override
    if override is not None and override.active(now):
        entry["override"] = {"replicas": override.replicas, "until": _iso(override.until)}
    return entry


def _metrics(readings) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    for name, reading in readings.items():
        if isinstance(reading, Unavailable):
            shown[name] = {"unavailable": reading.reason}
        elif isinstance(reading, (QueueLoad, HttpLoad)):
            shown[name] = asdict(reading)
    return shown


def _daemon(state, lease_holder: str | None, now: float) -> dict[str, Any]:
    last = state.last_tick if state else None
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


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


def render(report: dict[str, Any]) -> str:
    lines = [f"project {report['project']}"]
    for name, service in report["services"].items():
        lines.append(
            f"{name}: {service['running']} running, {service['ready']} ready "
            f"(min {service['min_replicas']}, max {service['max_replicas']})"
        )
        for replica in service["replicas"]:
            lines.append(f"  {replica['name']}  {replica['state']}  {replica['health'] or '-'}")
        if "why" in service:
            lines.append(f"  would scale to {service['would_scale_to']}: {service['why']}")
        if service["override"]:
            override = service["override"]
            until = override["until"] or "for good"
            lines.append(f"  override: pinned at {override['replicas']} until {until}")
    for name, figures in report["metrics"].items():
        shown = ", ".join(f"{key} {value if value is not None else '?'}" for key, value in figures.items())
        lines.append(f"{name}: {shown}")
    daemon = report["daemon"]
    last = daemon["last_tick"]
    if last is None:
        lines.append("daemon: no tick recorded")
    else:
        role = "leading" if last["leading"] else "standing by"
        lines.append(f"daemon: last tick {last['seconds_ago']}s ago by {last['by']} ({role})")
        lines += [f"  error: {error}" for error in last["errors"]]
    lines.append(f"lease: {daemon['lease_holder'] or 'free'}")
    lines += [f"error: {error}" for error in report["errors"]]
    return "\n".join(lines)
