"""A Swarm stack's tasks as replicas: what `docker stack ps` and `docker inspect --type task`
report, read into the same `Replica` the Compose backend gives. No I/O here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from autoscaler.actuators.replicas import Replica, Snapshot, probe_command

_NEVER_STARTED = datetime.min.replace(tzinfo=UTC)
# The states a task passes through before it runs. A task with a healthcheck stays `starting`
# until its first healthy probe, so Swarm's `running` already means fit.
STARTED = "starting"
"""The last of `_STARTING`: the task's container runs, Swarm waits for its first healthy probe."""
_STARTING = {"new", "pending", "assigned", "accepted", "ready", "preparing", STARTED}
_LOOPBACK_URL_HOST = re.compile(r"(?<=://)(127\.0\.0\.1|localhost)(?=[:/]|$)")


def listed_tasks(stack: str, stack_ps: str) -> dict[str, str]:
    """Task id -> its compose service, from `docker stack ps --no-trunc --format '{{json .}}'`
    (one JSON object a line; a task's name is STACK_SERVICE.SLOT, ` \\_ `-indented when it
    follows another task of the same slot)."""
    tasks = {}
    for line in stack_ps.splitlines():
        if line.strip():
            task = json.loads(line)
            service_and_slot = task["Name"].strip(" \\_")
            tasks[task["ID"]] = service_and_slot.removeprefix(f"{stack}_").rsplit(".", 1)[0]
    return tasks


def task_nodes(stack_ps: str) -> dict[str, str]:
    """Task id -> the hostname of the node that runs it (empty before Swarm chose one), from
    the same listing as `listed_tasks`."""
    tasks = (json.loads(line) for line in stack_ps.splitlines() if line.strip())
    return {task["ID"]: task.get("Node", "") for task in tasks}


def snapshot_from_tasks(
    services: Mapping[str, str], inspected: Iterable[Any], nodes: Mapping[str, str] | None = None
) -> Snapshot:
    """Each service's replicas, lowest slot first, from the tasks' `docker inspect`, `services`
    (task id -> service) and `nodes` (task id -> node); only the tasks Swarm wants running."""
    by_service: Snapshot = {}
    for task in inspected:
        if task.get("DesiredState") == "running" and task["ID"] in services:
            node = (nodes or {}).get(task["ID"], "")
            replica = replica_from_task(task, services[task["ID"]], node)
            by_service.setdefault(replica.service, []).append(replica)
    for replicas in by_service.values():
        replicas.sort(key=lambda replica: replica.number)
    return by_service


def replica_from_task(task: Mapping[str, Any], service: str, node: str = "") -> Replica:
    """One task as a replica. A task on its way to running counts as a running replica not fit
    yet, as a Compose container does before its first healthy probe; its health says where on
    its way it is (Swarm's state: pending, preparing, starting...)."""
    status = task.get("Status") or {}
    state = status.get("State", "")
    health = None
    if state in _STARTING:
        state, health = "running", state
    slot = task.get("Slot") or 0
    return Replica(
        id=task["ID"],
        name=f"{service}.{slot}",
        service=service,
        number=slot,
        state=state,
        health=health,
        started_at=_since(status.get("Timestamp")),
        addresses=task_addresses(task),
        node=node,
        probe=probe_command(_healthcheck_test(task)),
    )


def asked_at(probe: Sequence[str], address: str) -> tuple[str, ...]:
    """A task's healthcheck test that asks a URL on the task's own loopback, asking the task's
    `address` instead, to be run from another container on the same network; none when the
    test asks no such URL."""
    asked = tuple(_LOOPBACK_URL_HOST.sub(address, argument) for argument in probe)
    return asked if asked != tuple(probe) else ()


def _healthcheck_test(task: Mapping[str, Any]) -> Sequence[str] | None:
    return (_container_spec(task).get("Healthcheck") or {}).get("Test")


def task_addresses(task: Mapping[str, Any]) -> dict[str, str]:
    """Network name -> the task's own IP address on it (dnsrr: no VIP in between)."""
    addresses = {}
    for attachment in task.get("NetworksAttachments") or []:
        name = attachment.get("Network", {}).get("Spec", {}).get("Name")
        cidrs = attachment.get("Addresses") or []
        if name and cidrs:
            addresses[name] = cidrs[0].split("/", 1)[0]
    return addresses


def container_id(task: Mapping[str, Any]) -> str | None:
    """The task's container, on the node that runs it; None before it has one."""
    container_status = (task.get("Status") or {}).get("ContainerStatus") or {}
    return container_status.get("ContainerID") or None


def _since(timestamp: str | None) -> datetime:
    """Swarm's RFC 3339 time of the task's last change of state."""
    if not timestamp:
        return _NEVER_STARTED
    moment = datetime.fromisoformat(timestamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_DEFAULT_STOP_GRACE_SECONDS = 10.0
"""Docker's, for a container whose spec sets none."""


def stop_grace_seconds(task: Mapping[str, Any]) -> float:
    """How long a stop of the task's container may take: its stop grace period."""
    nanoseconds = _container_spec(task).get("StopGracePeriod")
    return nanoseconds / 1e9 if nanoseconds else _DEFAULT_STOP_GRACE_SECONDS


def task_image(task: Mapping[str, Any]) -> str:
    """The image the task runs, as its spec names it (pinned to a digest, once deployed)."""
    return str(_container_spec(task).get("Image", ""))


def _container_spec(task: Mapping[str, Any]) -> Mapping[str, Any]:
    return (task.get("Spec") or {}).get("ContainerSpec") or {}
