"""The warm pool's shared bookkeeping: which replicas were started for the pool and are not
paused yet, and the one lock under which the project's replicas are added, paused or
unpaused, so that a pool refill and a scaling action never count the replicas at the same time.
No I/O here."""

from __future__ import annotations

import threading
from dataclasses import replace

from autoscaler.actuators.answers import ProbeAnswers
from autoscaler.actuators.replicas import WARMING, Replica, Snapshot


class WarmPool:
    def __init__(self) -> None:
        self.changing = threading.RLock()
        """Held while the replicas are counted and changed (compose up, pause, unpause)."""
        self._warming: set[str] = set()
        self._answers = ProbeAnswers()
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
        self._answers.answered(replica_id)

    def mark(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each warming replica in the state `warming` (neither capacity nor
        routed, nor a victim, though Docker reports it running), and each replica that answered
        its healthcheck's test run by hand healthy until Docker's own probe says so too."""
        with self._guard:
            warming = set(self._warming)
        return {
            service: [_warming(r, warming) for r in replicas]
            for service, replicas in self._answers.mark(snapshot).items()
        }


def _warming(replica: Replica, warming: set[str]) -> Replica:
    return replace(replica, state=WARMING) if replica.id in warming else replica
