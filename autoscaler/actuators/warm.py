"""The warm pool's shared bookkeeping: which replicas were started for the pool and are not
paused yet, and the one lock under which the project's replicas are added, paused or
unpaused, so that a pool refill and a scaling action never count the replicas at the same time.
No I/O here."""

from __future__ import annotations

import threading
from dataclasses import replace

from autoscaler.actuators.replicas import WARMING, Snapshot


class WarmPool:
    def __init__(self) -> None:
        self.changing = threading.RLock()
        """Held while the replicas are counted and changed (compose up, pause, unpause)."""
        self._warming: set[str] = set()
        self._guard = threading.Lock()

    def warming(self, replica_id: str) -> None:
        with self._guard:
            self._warming.add(replica_id)

    def settled(self, replica_id: str) -> None:
        """Paused, given up, or gone: no longer warming."""
        with self._guard:
            self._warming.discard(replica_id)

    def mark(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each warming replica in the state `warming`: neither capacity nor
        routed, nor a victim, though Docker reports it running."""
        with self._guard:
            warming = set(self._warming)
        return {
            service: [replace(r, state=WARMING) if r.id in warming else r for r in replicas]
            for service, replicas in snapshot.items()
        }
