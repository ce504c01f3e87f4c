"""Keeps each service's warm pool full, on its own: a replica is started, left to warm up
(a main until its healthcheck passes, a worker until its BullMQ connection is registered in
Redis) and then paused, so the next scale-out only has to unpause it. One replica at a time,
never in a tick's way: the tick reads the pool, the refill fills it.

A worker is paused only while its queues have no backlog: a worker that starts into a backlog
may already hold jobs, and a paused worker must hold none. It is left running instead, as
capacity the next tick counts. A job can still arrive between that look and the pause: so once
paused, the worker's jobs are read (its BullMQ locks); one that holds any is unpaused, left to
finish them, and paused again (`judge_paused`). Until then it stays `warming`: no scale-out
wakes it, no tick counts it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import TYPE_CHECKING, Literal

from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.warm import WarmPool

if TYPE_CHECKING:  # python-on-whales takes a good part of a second to import: `status` needs none
    from autoscaler.actuators.compose import ComposeBackend

_POLL_SECONDS = 0.5
SETTLE_SECONDS = 1.0
"""After a pause, before the worker's jobs are read: a take it sent just before it froze is
run by Redis meanwhile (a Lua script: atomic, whether its sender runs or not)."""
MAX_PAUSES = 3
"""Pauses that each found the worker holding a job, after which it is left running: the work
keeps coming, and the next tick counts it as capacity."""


@dataclass(frozen=True)
class PoolSpec:
    size: int
    warmed: Callable[[Replica], bool]
    """The replica has finished starting: it would take work now."""
    busy: Callable[[], bool] = lambda: False
    """Work is waiting: a replica warmed now may already have taken some."""
    paused: Callable[[Replica], None] = lambda replica: None
    """Told each replica just paused."""
    jobs: Callable[[Replica], int | None] = lambda replica: None
    """The jobs the replica runs now; None when they cannot be seen (a main takes none)."""


@dataclass(frozen=True)
class PausedVerdict:
    """What to do with a replica just paused, and why."""

    action: Literal["stay", "finish", "release"]
    """stay paused; unpause it to finish its jobs, then pause it again; or leave it running."""
    reason: str


def judge_paused(jobs: int | None, pauses: int) -> PausedVerdict:
    """A replica just paused for the `pauses`-th time, running `jobs` jobs. Pure."""
    if jobs is None:
        return PausedVerdict("stay", "its jobs cannot be seen: paused as it warmed")
    if jobs == 0:
        return PausedVerdict("stay", "holds no job")
    if pauses < MAX_PAUSES:
        return PausedVerdict(
            "finish", f"paused holding {jobs} job(s): unpaused to finish them, then paused again"
        )
    return PausedVerdict("release", f"held a job at each of {pauses} pauses: work keeps coming")


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
            except Exception:  # a stop, Docker or Redis: none may leave a replica uncounted
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
        self._pause_idle(replica, spec)

    def _pause_idle(self, replica: Replica, spec: PoolSpec) -> None:
        """Paused holding no job, or left running."""
        for pauses in count(1):
            if spec.busy():
                self._release(replica, "work was waiting, it may hold some")
                return
            self._backend.pause(replica)
            try:
                spec.paused(replica)
                self._pause(SETTLE_SECONDS)
                verdict = judge_paused(spec.jobs(replica), pauses)
            except Exception:  # cut short, the replica is unpaused: unchecked, it may hold a job
                self._backend.unpause(replica)
                raise
            if verdict.action == "stay":
                self._pool.settled(replica.id)
                self._changed(f"{replica.name} warm and paused ({verdict.reason})")
                return
            self._backend.unpause(replica)
            if verdict.action == "release" or not self._finished_jobs(replica, spec):
                self._release(replica, verdict.reason)
                return
            self._changed(f"{replica.name} {verdict.reason}")

    def _finished_jobs(self, replica: Replica, spec: PoolSpec) -> bool:
        """Until the replica runs no job (or they cannot be seen); False at the ready timeout."""
        deadline = self._monotonic() + self._ready_timeout
        while spec.jobs(replica):
            if self._monotonic() >= deadline:
                return False
            self._pause(_POLL_SECONDS)
        return True

    def _current(self, replica: Replica) -> Replica | None:
        listed = self._backend.replicas().get(replica.service, [])
        return next((r for r in listed if r.id == replica.id and r.state != "exited"), None)

    def _release(self, replica: Replica, why: str) -> None:
        """Left running as ordinary capacity: the next tick counts it."""
        self._pool.settled(replica.id)
        self._changed(f"{replica.name} left running ({why})")
