"""Replicas as the engine reports them, and the pure choices made about them. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


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
    """healthy, unhealthy or starting; None when the service has no healthcheck."""
    started_at: datetime
    addresses: Mapping[str, str]
    """Network name -> IP address."""

    @property
    def routable(self) -> bool:
        """Running and, where there is a healthcheck, healthy: fit to take requests."""
        return self.state == "running" and self.health in (None, "healthy")

    def address_on(self, networks: Iterable[str]) -> str | None:
        """The replica's IP on the first of `networks` it is attached to."""
        return next((self.addresses[n] for n in networks if self.addresses.get(n)), None)


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
