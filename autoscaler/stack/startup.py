"""What `up` aims for, and when a started stack is ready. Purely computational, no I/O here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from autoscaler.actuators.replicas import PAUSED
from autoscaler.config import ServicePolicy


def initial_scales(
    policies: Mapping[str, ServicePolicy], running: Mapping[str, int]
) -> dict[str, int]:
    """Each scaled service at its min, or at what runs now when that is more: `up` on a running
    stack never scales in, since compose would stop replicas without draining them."""
    return {name: max(p.min_replicas, running.get(name, 0)) for name, p in policies.items()}


def first_start_scales(
    scales: Mapping[str, int], running: Mapping[str, int], first: str
) -> dict[str, int] | None:
    """On a start with no replica running: `first` alone, every other scaled service at 0.

    Each Flowise process, main or worker, migrates the database as it starts; several at once
    on a new database (or a new Flowise version) race, and the losers crash. One alone migrates,
    and the rest find the work done. None when nothing needs staging."""
    if first not in scales or sum(scales.values()) <= 1 or any(running.get(n) for n in scales):
        return None
    return {name: int(name == first) for name in scales}


@dataclass(frozen=True)
class ContainerState:
    name: str
    status: str
    """Docker's: created, running, restarting, exited, dead, ..."""
    health: str | None
    """starting, healthy or unhealthy; None without a healthcheck."""
    exit_code: int
    restarts: int = 0


CRASH_LOOP_RESTARTS = 3
"""Restarts after which a container counts as failed: it will not become healthy by waiting."""


@dataclass(frozen=True)
class Readiness:
    waiting: tuple[str, ...]
    """Containers still starting, each with what it is waiting on."""
    failed: tuple[str, ...]
    """Containers that exited with an error or keep crashing: waiting longer will not help."""
    healthy: tuple[str, ...] = ()
    """Containers running and healthy (or without a healthcheck), by name."""

    @property
    def ready(self) -> bool:
        return not self.waiting and not self.failed


def readiness(containers: Iterable[ContainerState]) -> Readiness:
    waiting, failed, healthy = [], [], []
    for container in containers:
        if container.status == "exited" and container.exit_code == 0:
            continue  # a one-shot service (minio-bucket) that did its job
        if container.status == PAUSED:
            continue  # a warm replica the daemon keeps: it runs again when a scale-out wakes it
        if container.status in ("exited", "dead") or container.restarts >= CRASH_LOOP_RESTARTS:
            failed.append(
                f"{container.name} (exited with status {container.exit_code}, "
                f"restarted {container.restarts} times)"
            )
        elif container.status != "running" or container.health not in (None, "healthy"):
            waiting.append(f"{container.name} ({container.health or container.status})")
        else:
            healthy.append(container.name)
    return Readiness(tuple(waiting), tuple(failed), tuple(healthy))


UNPULLED_POLICIES = ("never", "build")
"""Compose's pull policies under which it never pulls the service's image."""


def images_to_pull(services: Mapping[str, Mapping[str, Any]], present: Callable[[str], bool]
                   ) -> list[str]:  # fmt: skip
    """The images of the stack's services (`docker compose config`'s) that compose would pull:
    absent from this host, and not built or `pull_policy: never`."""
    images = {
        service["image"]
        for service in services.values()
        if service.get("image") and service.get("pull_policy") not in UNPULLED_POLICIES
    }
    return sorted(image for image in images if not present(image))
