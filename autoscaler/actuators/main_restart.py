"""A main that stopped answering: out of the upstream first, then restarted. nginx routes to it
again once the restarted process is healthy, at the next reconcile, as for any replica.

An action of its own (runtime/actions.py): `docker restart` waits out the main's stop grace
period, which no tick may wait for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoscaler.actuators.backend import ReplicaBackend
from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.errors import Interrupted


@dataclass(frozen=True)
class RestartPlan:
    """A deaf main to restart, and why it was found deaf."""

    main: Replica
    reason: str

    @property
    def service(self) -> str:
        return self.main.service

    @property
    def summary(self) -> str:
        return f"restart of the deaf {self.main.name}"

    def steps(self) -> tuple[str, ...]:
        return (
            f"take {self.main.name} out of the nginx upstream (nginx -t, reload)",
            f"docker restart {self.main.name}",
        )


class MainRestart:
    def __init__(
        self,
        backend: ReplicaBackend,
        transaction: ScaleTransaction,
        stopping: Callable[[], bool],
    ) -> None:
        """`stopping()`: a stop was asked; a restart not begun is then not begun at all."""
        self._backend = backend
        self._transaction = transaction
        self._stopping = stopping

    def apply(self, plan: RestartPlan) -> None:
        """No new request reaches the main; then it is restarted (its requests in flight, which
        it would never answer, end with nginx's 502). Cut short by a stop, the main stays out
        of the upstream, deaf as it is, until the next start reconciles. The upstream is
        written from the replicas as they are now: a `scale` by hand may have ended meanwhile."""
        self._unless_stopping()
        self._transaction.reconcile(self._transaction.snapshot(), leaving=[plan.main])
        self._unless_stopping()
        self._backend.restart(plan.main)

    def _unless_stopping(self) -> None:
        if self._stopping():
            raise Interrupted("stopping: the deaf main's restart was not begun")
