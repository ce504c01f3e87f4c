"""Keeps each service's warm pool full, on its own: a replica is started, left to warm up
(a main until its healthcheck passes, a worker until its BullMQ connection is registered in
Redis) and then paused, so the next scale-out only has to unpause it. One replica at a time,
never in a tick's way: the tick reads the pool, the refill fills it.

A worker is paused only while its queues have no backlog: a worker that starts into a backlog
may already hold jobs, and a paused worker must hold none. It is left running instead, as
capacity the next tick counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.warm import WarmPool
from autoscaler.errors import Interrupted

if TYPE_CHECKING:  # python-on-whales takes a good part of a second to import: `status` needs none
    from autoscaler.actuators.compose import ComposeBackend

_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class PoolSpec:
    size: int
    warmed: Callable[[Replica], bool]
    """The replica has finished starting: it would take work now."""
    busy: Callable[[], bool] = lambda: False
    """Work is waiting: a replica warmed now may already have taken some."""
    paused: Callable[[Replica], None] = lambda replica: None
    """Told each replica just paused."""


class WarmRefill:
    def __init__(
        self,
        backend: ComposeBackend,
        pool: WarmPool,
        specs: Mapping[str, PoolSpec],
        ready_timeout_seconds: float,
        monotonic: Callable[[], float],
        pause: Callable[[float], None],
        changed: Callable[[str], None],
    ) -> None:
        """`changed(what)` is told each time a replica joins or leaves the pool."""
        self._backend = backend
        self._pool = pool
        self._specs = specs
        self._ready_timeout = ready_timeout_seconds
        self._monotonic = monotonic
        self._pause = pause
        self._changed = changed

    def refill(self) -> None:
        """Start, warm and pause the replicas each service's pool is short of. A pool refills
        only once none of its replicas is paused (see ComposeBackend.add_warming)."""
        for service, spec in self._specs.items():
            replicas = self._backend.replicas().get(service, [])
            short = spec.size - sum(r.warm for r in replicas)
            if short > 0:
                self._warm(service, spec, short)

    def _warm(self, service: str, spec: PoolSpec, count: int) -> None:
        added = self._backend.add_warming(service, count)
        for replica in added:
            self._changed(f"{replica.name} started for the warm pool of {service}")
        for index, replica in enumerate(added):
            try:
                self._wait_until_warmed(replica, spec)
            except (Interrupted, ActuatorError):
                for left in added[index:]:
                    self._release(left, "the refill was cut short")
                raise

    def _wait_until_warmed(self, replica: Replica, spec: PoolSpec) -> None:
        deadline = self._monotonic() + self._ready_timeout
        while True:
            current = self._current(replica)
            if current is None:
                self._pool.settled(replica.id)
                return
            if spec.warmed(current):
                break
            if self._monotonic() >= deadline:
                self._changed(
                    f"{replica.name} did not warm up in {self._ready_timeout:g}s: removed"
                )
                self._backend.remove([current])
                self._pool.settled(replica.id)
                return
            self._pause(_POLL_SECONDS)
        if spec.busy():
            self._release(replica, "work was waiting, it may hold some")
            return
        self._backend.pause(replica)
        spec.paused(replica)
        self._changed(f"{replica.name} warm and paused")

    def _current(self, replica: Replica) -> Replica | None:
        listed = self._backend.replicas().get(replica.service, [])
        return next((r for r in listed if r.id == replica.id and r.state != "exited"), None)

    def _release(self, replica: Replica, why: str) -> None:
        """Left running as ordinary capacity: the next tick counts it."""
        self._pool.settled(replica.id)
        self._changed(f"{replica.name} left running ({why})")
