"""Which replicas answered their healthcheck's test run by hand: for a while, that answer stands
in for the engine's health, which probes a new or woken replica only an interval later. No I/O
here."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from autoscaler.actuators.replicas import Replica, Snapshot

ANSWERED_SECONDS = 30.0
"""How long an answer to the healthcheck's test run by hand stands in for the engine's health."""


class ProbeAnswers:
    def __init__(self) -> None:
        self._answered: dict[str, float] = {}
        self._guard = threading.Lock()

    def answered(self, replica_id: str) -> None:
        """It passed its healthcheck's test when run by hand."""
        with self._guard:
            self._answered[replica_id] = time.monotonic()

    def mark(self, snapshot: Snapshot) -> Snapshot:
        """The snapshot with each running replica that answered counted healthy until the
        engine's own probe says so too (from then on the engine's health rules again)."""
        healthy = {
            r.id for replicas in snapshot.values() for r in replicas if r.health == "healthy"
        }
        with self._guard:
            now = time.monotonic()
            self._answered = {
                i: at
                for i, at in self._answered.items()
                if now - at < ANSWERED_SECONDS and i not in healthy
            }
            answered = set(self._answered)
        return {
            service: [_marked(r, answered) for r in replicas]
            for service, replicas in snapshot.items()
        }


def _marked(replica: Replica, answered: set[str]) -> Replica:
    if replica.id in answered and replica.state == "running":
        return replace(replica, health="healthy")
    return replica
