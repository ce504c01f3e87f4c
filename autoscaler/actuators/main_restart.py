"""A main that stopped answering: out of the upstream first, then restarted. nginx routes to it
again once the restarted process is healthy, at the next reconcile, as for any replica."""

from __future__ import annotations

from autoscaler.actuators.backend import ReplicaBackend
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.transaction import ScaleTransaction


class MainRestart:
    def __init__(self, backend: ReplicaBackend, transaction: ScaleTransaction) -> None:
        self._backend = backend
        self._transaction = transaction

    def restart(self, main: Replica, snapshot: Snapshot) -> None:
        """No new request reaches `main`; then it is restarted (its requests in flight, which
        it would never answer, end with nginx's 502)."""
        self._transaction.reconcile(snapshot, leaving=[main])
        self._backend.restart(main)
