"""The warm pool's shared bookkeeping: which replicas were started for the pool and are not
paused yet, and the one lock under which the project's replicas are added, paused or
unpaused, so that a pool refill and a scaling action never count the replicas at the same time.
No I/O here."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from autoscaler.actuators.replicas import WARMING, Replica, Snapshot

ANSWERED_SECONDS = 30.0
"""How long a replica's answer to its healthcheck's test run by hand stands in for Docker's
health: Docker reports a woken replica unhealthy and a new one starting, and probes it again
only an interval later."""


class WarmPool:
    def __init__(self) -> None:
        self.changing = threading.RLock()
        """Held while the replicas are counted and changed (compose up, pause, unpause)."""
        self._warming: set[str] = set()
        self._answered: dict[str, float] = {}
        self._guard = threading.Lock()

    def warming(self, replica_id: str) -> None:
        with self._guard:
            self._warming.add(replica_id)

    def settled(self, replica_id: str) -> None:
        """Paused, given up, or gone: no longer warming."""
        with self._guard:
            self._warming.discard(replica_id)

    def answered(self, replica_id: str) -> None:
        """It passed its healthcheck's test when run by hand."""
        with self._guard:
            self._answered[replica_id] = time.monotonic()

    def mark(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each warming replica in the state `warming` (neither capacity nor
        routed, nor a victim, though Docker reports it running), and each replica that answered
        its healthcheck's test run by hand healthy until Docker's own probe says so too (from
        then on Docker's health rules again)."""
        healthy = {
            r.id for replicas in snapshot.values() for r in replicas if r.health == "healthy"
        }
        with self._guard:
            warming = set(self._warming)
            now = time.monotonic()
            self._answered = {
                i: at
                for i, at in self._answered.items()
                if now - at < ANSWERED_SECONDS and i not in healthy
            }
            answered = set(self._answered)
        return {
            service: [_marked(r, warming, answered) for r in replicas]
            for service, replicas in snapshot.items()
        }


def _marked(replica: Replica, warming: set[str], answered: set[str]) -> Replica:
    if replica.id in warming:
        return replace(replica, state=WARMING)
    if replica.id in answered and replica.state == "running":
        return replace(replica, health="healthy")
    return replica
