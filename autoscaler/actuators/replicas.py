"""Replicas as the engine reports them, and the pure choices made about them. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

_COMPOSE_LABELS = "com.docker.compose."
_NEVER_STARTED = datetime.min.replace(tzinfo=UTC)
PAUSED = "paused"
"""Docker's state of a paused replica: a warm one, kept for the next scale-out."""
WARMING = "warming"
"""Not Docker's: a replica started for the warm pool and not paused yet (warm.WarmPool)."""


@dataclass(frozen=True)
class Replica:
    """One container of a scaled service, as inspected once per tick."""

    id: str
    name: str
    service: str
    number: int
    """Compose's container number (the `-3` in `flowise-flowise-3`)."""
    state: str
    """Docker's state: running, restarting, exited, ..."""
    health: str | None
    """healthy, unhealthy or starting; None when the service has no healthcheck. A Swarm task
    on its way to running: Swarm's state of it (pending, preparing, starting...)."""
    started_at: datetime
    addresses: Mapping[str, str]
    """Network name -> IP address."""
    probe: tuple[str, ...] = ()
    """Its healthcheck's test as a command to run in it; none without a healthcheck."""
    image: str = ""
    """The image as the container was created with it (`FLOWISE_IMAGE`'s value, a tag)."""
    image_id: str = ""
    """The image's id: the same tag pulled anew names another."""
    node: str = ""
    """The Swarm node that runs it; empty on Compose (one engine), and before Swarm chose one."""

    @property
    def warm(self) -> bool:
        """In the warm pool: paused, or started for it. Neither capacity nor routed."""
        return self.state in (PAUSED, WARMING)

    @property
    def routable(self) -> bool:
        """Running and, where there is a healthcheck, healthy: fit to take requests."""
        return self.state == "running" and self.health in (None, "healthy")

    def address_on(self, networks: Iterable[str]) -> str | None:
        """The replica's IP on the first of `networks` it is attached to."""
        return next((self.addresses[n] for n in networks if self.addresses.get(n)), None)


Snapshot = dict[str, list[Replica]]
"""Service -> its replicas, as listed at one moment."""


@dataclass(frozen=True)
class ReplicaCount:
    running: int
    """Replicas the service has now: the count a change starts from."""
    ready: int
    """Replicas fit to take work now: only these count as capacity."""
    warm: int = 0
    """Replicas in the warm pool: paused, or started for it."""


def count(replicas: Iterable[Replica]) -> ReplicaCount:
    listed = list(replicas)
    return ReplicaCount(
        running=sum(r.state == "running" for r in listed),
        ready=sum(r.routable for r in listed),
        warm=sum(r.warm for r in listed),
    )


def paused_replicas(replicas: Iterable[Replica]) -> list[Replica]:
    """The warm replicas ready to unpause, lowest number first."""
    return sorted((r for r in replicas if r.state == PAUSED), key=lambda r: r.number)


def replica_from_inspection(inspected: Any) -> Replica:
    """One container of `docker inspect`, as python-on-whales reads it (its
    ContainerInspectResult) -> Replica."""
    labels = inspected.config.labels or {}
    state = inspected.state
    networks = inspected.network_settings.networks or {}
    return Replica(
        id=inspected.id,
        name=inspected.name.removeprefix("/"),
        service=labels.get(f"{_COMPOSE_LABELS}service", ""),
        number=int(labels.get(f"{_COMPOSE_LABELS}container-number", 0)),
        state=state.status,
        health=state.health.status if state.health else None,
        started_at=_started_at(state.started_at),
        addresses={name: net.ip_address or "" for name, net in networks.items()},
        probe=probe_command(_test(inspected.config.healthcheck)),
        image=inspected.config.image or "",
        image_id=inspected.image or "",
    )


def probe_command(test: Sequence[str] | None) -> tuple[str, ...]:
    """A healthcheck's test (`CMD ...`, `CMD-SHELL ...`) as a command to run; none when there
    is no test."""
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        return ()
    return tuple(test[1:]) if test[0] == "CMD" else ("sh", "-c", test[1])


def _test(healthcheck: Any) -> Sequence[str] | None:
    return healthcheck.test if healthcheck else None


def _started_at(moment: datetime | None) -> datetime:
    """Docker reports 0001-01-01 for a container that never started."""
    if moment is None or moment.year <= 1:
        return _NEVER_STARTED
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def choose_victims(
    replicas: Iterable[Replica], count: int, busyness: Mapping[str, int] | None = None
) -> list[Replica]:
    """The `count` replicas to remove: unfit ones first, then the least busy, then the newest.

    `busyness` maps a replica id to its work in progress (e.g. open connections from nginx),
    where such a signal exists.
    """
    busyness = busyness or {}

    def removal_order(replica: Replica) -> tuple[bool, int, float]:
        return (
            replica.routable,
            busyness.get(replica.id, 0),
            -replica.started_at.timestamp(),
        )

    return sorted(replicas, key=removal_order)[:count]
