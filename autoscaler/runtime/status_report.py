"""`status`'s report, made from plain data: the config's (its snapshot's) and the state's, as
the daemon writes them. Light to import: from a fresh tick `status` needs nothing more (no
config models, no Redis client: the lease, and on a Swarm the state, are one GET over a socket
each). Reads the state (its file, or its key in Redis) and the lease only; never shows a secret.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoscaler.actuators.replicas import PAUSED, WARMING
from autoscaler.locations import local_ports_name
from autoscaler.runtime import resp
from autoscaler.runtime.redis_keys import lease_key, state_key

FRESH_INTERVALS = 3
"""A tick at most this many intervals old still tells the stack as it is."""
READ_TIMEOUT_SECONDS = 1.0
"""The longest status waits for Redis or nginx to answer one call (the config's, if shorter)."""
FROM_THE_DAEMON = "the daemon's last tick"

Data = Mapping[str, Any]


def is_fresh(tick_at: float, settings: Data, now: float) -> bool:
    interval: float = settings["daemon"]["interval_seconds"]
    return now - tick_at <= FRESH_INTERVALS * interval


def from_fresh_tick(settings: Data, now: float) -> dict[str, Any] | None:
    """The report from the daemon's last tick when it is fresh, the state read as the daemon
    writes it. None when there is no fresh tick, the state is anything else or cannot be read
    (`status.gather` reads it validated then, and says what is wrong), or Redis is reached over
    TLS (its client library's)."""
    if not settings["redis"]["url"].startswith("redis://"):
        return None
    try:
        state = json.loads(_state(settings))
        last = state["last_tick"]
        if last is None or not is_fresh(last["at"], settings, now):
            return None
        down = dict(last["down"])
        holder = _lease_holder(settings, down)
        return report(settings, state, last, FROM_THE_DAEMON, now, holder, down)
    except (OSError, resp.RespError, ValueError, KeyError, TypeError, OverflowError):
        return None


def _state(settings: Data) -> bytes:
    """The state as the daemon wrote it: on a Swarm, its key in Redis (KeyError when there is
    none yet), else the state file."""
    if settings["compose"]["backend"] != "swarm":
        return Path(settings["daemon"]["state_file"]).read_bytes()
    key = state_key(settings["compose"]["project_name"])
    value = resp.get(settings["redis"]["url"], key, _read_timeout(settings))
    if value is None:
        raise KeyError(key)
    return value


def _read_timeout(settings: Data) -> float:
    timeout: float = min(settings["redis"]["timeout_seconds"], READ_TIMEOUT_SECONDS)
    return timeout


def report(
    settings: Data,
    state: Data | None,
    record: Data,
    source: str,
    now: float,
    lease_holder: str | None,
    down: dict[str, str],
    errors: Iterable[str] = (),
) -> dict[str, Any]:
    """`record`: the tick told (the daemon's, or status's own preview); `down`: its sources down
    and Redis if the lease could not be read."""
    return {
        "project": settings["compose"]["project_name"],
        "backend": settings["compose"]["backend"],
        "from": source,
        "down": down,
        "services": {
            name: _service(policy, record["services"].get(name), state, name, down, now)
            for name, policy in settings["services"].items()
        },
        "metrics": dict(record["readings"]),
        "daemon": _daemon(
            state["last_tick"] if state else None, lease_holder, now, _held(state, now)
        ),
        "deaf_mains": [_deaf_main(event) for event in state["deaf_mains"]] if state else [],
        "errors": [*record["errors"], *errors],
    }


def exit_code(report: Data) -> int:
    """0 when every source answered, 1 when any is down."""
    return 1 if report["down"] else 0


def _lease_holder(settings: Data, down: dict[str, str]) -> str | None:
    """Who holds the lease; "unknown" when Redis is down (recorded in `down` if newly seen)."""
    if "redis" in down:
        return "unknown"
    key = lease_key(settings["compose"]["project_name"])
    try:
        value = resp.get(settings["redis"]["url"], key, _read_timeout(settings))
    except (OSError, resp.RespError) as error:
        down["redis"] = f"the lease in Redis: {type(error).__name__}: {error}"
        return "unknown"
    return None if value is None else value.decode()


def _service(
    policy: Data,
    seen: Data | None,
    state: Data | None,
    name: str,
    down: Mapping[str, str],
    now: float,
) -> dict[str, Any]:
    seen = None if "docker" in down else seen
    replicas = [_replica(*view) for view in seen["replicas"]] if seen else []
    entry: dict[str, Any] = {
        "min_replicas": policy["min_replicas"],
        "max_replicas": policy["max_replicas"],
        "replicas": replicas,
        "running": seen["current"] if seen else None,
        "ready": seen["ready"] if seen else None,
        "warm": sum(replica["state"] in (PAUSED, WARMING) for replica in replicas),
        "warm_replicas": policy["warm_replicas"],
        "override": None,
    }
    if seen is not None:
        entry["would_scale_to"] = seen["desired"]
        entry["why"] = seen["explanation"]
        entry["plan"] = list(seen["plan"])
        entry["in_progress"] = seen["in_progress"]
    history = state["histories"].get(name) if state else None
    override = history["override"] if history else None
    if override is not None and (override["until"] is None or now < override["until"]):
        entry["override"] = {"replicas": override["replicas"], "until": _iso(override["until"])}
    return entry


def _replica(name: str, state: str, health: str | None, node: str = "") -> dict[str, Any]:
    """One replica of the record; `node` is missing from a record written before Swarm."""
    return {"name": name, "state": state, "health": health, "node": node or None}


def _held(state: Data | None, now: float) -> Data | None:
    """The upgrade's hold in force now, if any (as `State.held`)."""
    hold = state.get("hold") if state else None
    return hold if hold is not None and hold["until"] > now else None


def _daemon(
    last: Data | None, lease_holder: str | None, now: float, hold: Data | None
) -> dict[str, Any]:
    return {
        "lease_holder": lease_holder,
        "held": None if hold is None else {"reason": hold["reason"], "until": _iso(hold["until"])},
        "last_tick": None if last is None else {
            "at": _iso(last["at"]),
            "seconds_ago": round(now - last["at"], 1),
            "by": last["holder"],
            "leading": last["leading"],
            "errors": list(last["errors"]),
        },
    }  # fmt: skip


def _deaf_main(event: Data) -> dict[str, Any]:
    return {"at": _iso(event["at"]), "replica": event["replica"], "action": event["action"],
            "reason": event["reason"]}  # fmt: skip


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _what_it_means(source: str, project: str, backend: str) -> list[str]:
    """What a source being down means for the stack, and its fix: under its DOWN line."""
    if source != "redis":
        return []
    logs = {"compose": f"docker compose -p {project} logs redis",
            "swarm": f"docker service logs {project}_redis"}[backend]  # fmt: skip
    meaning = [
        "Redis is the problem: it holds the queues. Predictions cannot be queued, and those "
        "queued before it dropped may never be answered (Flowise issue #5126): their clients "
        "get nginx's 504 at the prediction timeout. The daemon holds the services it scales "
        "on the queues (the workers) meanwhile.",
        f"fix: start it (`compose-flowise up`), or read why it stopped (`{logs}`). A Flowise "
        "3.1.4 main may lose a Redis client for good on a Redis restart and answer no "
        "prediction again: the daemon restarts such a main (deaf_mains); without it, restart "
        "the mains by hand",
    ]
    if backend == "swarm":
        forwarder = local_ports_name(project)
        meaning.append(
            f"on a Swarm this manager reaches Redis through {forwarder}, which `up` starts: "
            f"if Redis runs, see `docker logs {forwarder}`"
        )
    return meaning


def render(report: dict[str, Any]) -> str:
    backend = report["backend"]
    on_swarm = " on Docker Swarm" if backend == "swarm" else ""
    lines = [f"project {report['project']}{on_swarm} (from {report['from']})"]
    for source, reason in report["down"].items():
        lines.append(f"DOWN {source}: {reason}")
        lines += [f"  {line}" for line in _what_it_means(source, report["project"], backend)]
    for name, service in report["services"].items():
        lines += _render_service(name, service, report["down"], backend)
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


def _render_service(
    name: str, service: dict[str, Any], down: dict[str, str], backend: str
) -> list[str]:
    bounds = f"(min {service['min_replicas']}, max {service['max_replicas']})"
    if service["running"] is None:
        why = "Docker unreachable" if "docker" in down else "not in the last tick"
        lines = [f"{name}: replicas unknown, {why} {bounds}"]
    elif backend == "swarm":
        # Swarm's own words: the tasks it wants running, and those running (healthy, where
        # there is a healthcheck); the others are still on their way, or cannot be placed.
        lines = [f"{name}: {service['ready']}/{service['running']} tasks running {bounds}"]
    else:
        pool = f", {service['warm']} warm of {service['warm_replicas']}"
        shown_pool = pool if service["warm_replicas"] or service["warm"] else ""
        lines = [
            f"{name}: {service['running']} running, {service['ready']} ready{shown_pool} {bounds}"
        ]
    for replica in service["replicas"]:
        line = f"  {replica['name']}  {replica['state']}  {replica['health'] or '-'}"
        if backend == "swarm":
            line += f"  on {replica['node']}" if replica["node"] else "  on no node yet"
        lines.append(line)
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
