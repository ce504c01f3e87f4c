"""Scaling and the load balancer as one transaction.

Scale-out: add replicas, route to each as soon as it is fit. Scale-in: pick the victims, take
them out of the upstream, wait until nginx has no request in flight to them, only then stop
and remove exactly those. After any failure the upstream is rebuilt from what really runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoscaler.actuators.compose import ReplicaBackend
from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica, choose_victims
from autoscaler.actuators.upstream import NginxUpstream, render_upstream, upstream_servers

Snapshot = dict[str, list[Replica]]
_POLL_SECONDS = 0.5
# After a reload, nginx's old workers take new connections for a moment more: a drain only
# counts as done once it has seen no connection this long after the reload.
_RELOAD_SETTLE_SECONDS = 1.0


@dataclass(frozen=True)
class Routing:
    """Which compose service nginx routes to, and how long the transaction may wait."""

    nginx_service: str
    upstream_service: str
    upstream_port: int
    ready_timeout_seconds: float
    drain_timeout_seconds: float


@dataclass(frozen=True)
class ScaleOutcome:
    service: str
    before: int
    after: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    not_ready: tuple[str, ...] = ()
    """Replicas added that were not fit to route to within the ready timeout."""
    undrained: int = 0
    """Requests still in flight to the removed replicas when the drain timeout ran out."""


class Scaler:
    def __init__(
        self,
        backend: ReplicaBackend,
        upstream: NginxUpstream,
        routing: Routing,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self._backend = backend
        self.upstream = upstream
        self._routing = routing
        self._monotonic = monotonic
        self._sleep = sleep

    def snapshot(self) -> Snapshot:
        return self._backend.replicas()

    def reconcile(self, snapshot: Snapshot, leaving: tuple[Replica, ...] = ()) -> bool:
        """Make the upstream list the fit replicas, less `leaving`. True when nginx reloaded."""
        nginx = self._nginx(snapshot)
        staying = [r for r in snapshot.get(self._routing.upstream_service, []) if r not in leaving]
        servers = upstream_servers(staying, nginx.addresses, self._routing.upstream_port)
        return self.upstream.apply(render_upstream(self._routing.upstream_service, servers), nginx)

    def scale(self, service: str, target: int, snapshot: Snapshot) -> ScaleOutcome:
        running = [r for r in snapshot.get(service, []) if r.state == "running"]
        try:
            if target > len(running):
                return self._scale_out(service, target, running)
            if target < len(running):
                return self._scale_in(service, target, running, snapshot)
            return ScaleOutcome(service, len(running), len(running))
        except ActuatorError:
            self._reconcile_after_failure()
            raise

    def _scale_out(self, service: str, target: int, running: list[Replica]) -> ScaleOutcome:
        before = {r.id for r in running}
        self._backend.scale_to(service, target)
        deadline = self._monotonic() + self._routing.ready_timeout_seconds
        while True:
            snapshot = self.snapshot()
            added = [r for r in snapshot.get(service, []) if r.id not in before]
            if service == self._routing.upstream_service:
                self.reconcile(snapshot)
            waiting = [r.name for r in added if not r.routable]
            if not waiting or self._monotonic() >= deadline:
                break
            self._sleep(_POLL_SECONDS)
        return ScaleOutcome(
            service,
            len(running),
            len(before) + len(added),
            added=tuple(r.name for r in added),
            not_ready=tuple(waiting),
        )

    def _scale_in(
        self, service: str, target: int, running: list[Replica], snapshot: Snapshot
    ) -> ScaleOutcome:
        undrained = 0
        if service == self._routing.upstream_service:
            victims = tuple(self._victims_by_load(running, len(running) - target, snapshot))
            self.reconcile(snapshot, leaving=victims)
            undrained = self._drain(victims, snapshot)
        else:
            victims = tuple(choose_victims(running, len(running) - target))
        self._backend.remove(victims)
        self._backend.scale_to(service, target)
        return ScaleOutcome(
            service,
            len(running),
            target,
            removed=tuple(r.name for r in victims),
            undrained=undrained,
        )

    def _victims_by_load(self, running: list[Replica], count: int, snapshot: Snapshot):
        nginx = self._nginx(snapshot)
        servers = {self._server(r, nginx): r.id for r in running}
        in_flight = self.upstream.open_connections(nginx, servers.keys())
        busyness = {replica_id: in_flight[server] for server, replica_id in servers.items()}
        return choose_victims(running, count, busyness)

    def _drain(self, victims: tuple[Replica, ...], snapshot: Snapshot) -> int:
        """Wait until nginx has no request in flight to the victims; what is left at timeout."""
        nginx = self._nginx(snapshot)
        servers = {self._server(r, nginx) for r in victims}
        settled = self._monotonic() + _RELOAD_SETTLE_SECONDS
        deadline = self._monotonic() + self._routing.drain_timeout_seconds
        while True:
            remaining = sum(self.upstream.open_connections(nginx, servers).values())
            now = self._monotonic()
            if (remaining == 0 and now >= settled) or now >= deadline:
                return remaining
            self._sleep(_POLL_SECONDS)

    def _reconcile_after_failure(self) -> None:
        try:
            self.reconcile(self.snapshot())
        except ActuatorError:
            pass  # the original error says more; the next tick reconciles again

    def _server(self, replica: Replica, nginx: Replica) -> str:
        return f"{replica.address_on(nginx.addresses)}:{self._routing.upstream_port}"

    def _nginx(self, snapshot: Snapshot) -> Replica:
        for replica in snapshot.get(self._routing.nginx_service, []):
            if replica.state == "running":
                return replica
        raise ActuatorError(
            "find nginx", f"no running container of the service {self._routing.nginx_service!r}"
        )
