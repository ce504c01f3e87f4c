"""Scaling and the load balancer as one transaction: plan (see plan.py), then apply.

Scale-out: add replicas, route to each as soon as it is fit. Scale-in: take the planned victims
out of the upstream, wait until nginx has no request in flight to them (a queue's workers: until
they run no job), only then stop and remove exactly those. After any failure, or a stop that
cuts a wait short, the upstream is rebuilt from what really runs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

from autoscaler.actuators.backend import ReplicaBackend
from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.plan import (
    Routing,
    ScalePlan,
    outline_scale,
    plan_scale,
    running_replicas,
)
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.upstream import NginxUpstream, render_upstream, upstream_servers
from autoscaler.errors import Interrupted

_POLL_SECONDS = 0.5
# After a reload, nginx's old workers take new connections for a moment more: a drain only
# counts as done once it has seen no connection this long after the reload.
_RELOAD_SETTLE_SECONDS = 1.0


class RunningJobs(Protocol):
    def __call__(self, service: str, replicas: Sequence[Replica]) -> Mapping[str, int] | None:
        """(service, some of its replicas) -> the jobs each runs now, by replica id, for those
        whose jobs are seen; None when the service's jobs cannot be seen (it takes no queue's
        jobs, or the queue cannot tell)."""
        ...

    def sees(self, service: str) -> bool:
        """The service takes a queue's jobs, so its replicas' jobs are looked for; reads
        nothing."""
        ...


class _JobsUnseen:
    def __call__(self, service: str, replicas: Sequence[Replica]) -> None:
        return None

    def sees(self, service: str) -> bool:
        return False


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
    unfinished: int = 0
    """Jobs the removed workers still ran when the drain timeout ran out: a stopped Flowise
    worker gives them 30 s more."""


class ScaleTransaction:
    def __init__(
        self,
        backend: ReplicaBackend,
        upstream: NginxUpstream,
        routing: Routing,
        monotonic: Callable[[], float],
        pause: Callable[[float], None],
        running_jobs: RunningJobs | None = None,
    ) -> None:
        """`pause(seconds)` waits between polls and raises Interrupted when a stop is asked."""
        self._backend = backend
        self.upstream = upstream
        self._routing = routing
        self._monotonic = monotonic
        self._pause = pause
        self._running_jobs = running_jobs or _JobsUnseen()

    def snapshot(self) -> Snapshot:
        return self._backend.replicas()

    def remove(self, replicas: Sequence[Replica]) -> None:
        """Stop and remove exactly these replicas, routed to by nobody (warm or stopped)."""
        self._backend.remove(replicas)

    def pause(self, seconds: float) -> None:
        """Wait between polls; Interrupted when a stop is asked."""
        self._pause(seconds)

    def running_jobs(self, service: str, replicas: Sequence[Replica]) -> Mapping[str, int] | None:
        """The jobs each of `replicas` runs now, for those whose jobs are seen (RunningJobs)."""
        return self._running_jobs(service, replicas)

    def reconcile(self, snapshot: Snapshot, leaving: Collection[Replica] = ()) -> bool:
        """Make the upstream list the fit replicas, less `leaving`. True when nginx reloaded.
        An nginx out of this engine's reach is left to the daemon on its node."""
        nginx = self._nginx(snapshot)
        if not self.upstream.reaches(nginx):
            return False
        upstream_service = self._routing.upstream_service
        staying = [r for r in snapshot.get(upstream_service, []) if r not in leaving]
        servers = upstream_servers(staying, nginx.addresses, self._routing.upstream_port)
        return self.upstream.apply(render_upstream(upstream_service, servers), nginx)

    def outline(self, service: str, target: int, snapshot: Snapshot) -> ScalePlan:
        """The plan without reading anything (a tick's: it must not wait on the engine): a
        scale-in's victims are left for `scale` to choose, as the action starts."""
        jobs_seen = self._running_jobs.sees(service)
        return outline_scale(service, target, snapshot, self._routing, jobs_seen)

    def plan(self, service: str, target: int, snapshot: Snapshot) -> ScalePlan:
        """The plan; for a scale-in it reads each replica's work in progress to pick victims:
        nginx's open connections to a routed replica, the jobs a worker runs; none when the
        backend picks what stops."""
        busyness: Mapping[str, int] | None = None
        running = running_replicas(snapshot, service)
        if target < len(running) and not self._backend.picks_what_stops:
            if service == self._routing.upstream_service:
                busyness = self._busyness(running, snapshot)
            else:
                busyness = self._running_jobs(service, running)
        return plan_scale(service, target, snapshot, self._routing, busyness)

    def scale(self, service: str, target: int, snapshot: Snapshot) -> ScaleOutcome:
        return self.apply(self.plan(service, target, snapshot), snapshot)

    def apply(self, plan: ScalePlan, snapshot: Snapshot) -> ScaleOutcome:
        """Do what the plan says; an outline's victims are chosen first."""
        if plan.victims_pending:
            plan = self.plan(plan.service, plan.target, snapshot)
        try:
            if plan.direction == "out":
                return self._scale_out(plan)
            if plan.direction == "in":
                return self._scale_in(plan, snapshot)
            return ScaleOutcome(plan.service, plan.before, plan.before)
        except (ActuatorError, Interrupted):
            self._reconcile_after_failure()
            raise

    def _scale_out(self, plan: ScalePlan) -> ScaleOutcome:
        before = {r.id for r in plan.running}
        self._backend.scale_to(plan.service, plan.target)
        deadline = self._monotonic() + plan.ready_timeout_seconds
        unfit: Sequence[Replica] = plan.woken
        while True:
            self._probe(unfit)
            snapshot = self.snapshot()
            added = [r for r in snapshot.get(plan.service, []) if r.id not in before and not r.warm]
            if plan.routed:
                self.reconcile(snapshot)
            unfit = [r for r in added if not r.routable]
            waiting = [r.name for r in unfit]
            if not waiting or self._monotonic() >= deadline:
                break
            self._pause(_POLL_SECONDS)
        return ScaleOutcome(
            plan.service,
            plan.before,
            len(before) + len(added),
            added=tuple(r.name for r in added),
            not_ready=tuple(waiting),
        )

    def _probe(self, unfit: Sequence[Replica]) -> None:
        """Runs each one's healthcheck by hand, not waiting for the engine's next probe (a woken
        main answers within milliseconds): each that answers counts healthy from now on."""
        for replica in unfit:
            if replica.probe:
                self._backend.probe(replica)

    def _scale_in(self, plan: ScalePlan, snapshot: Snapshot) -> ScaleOutcome:
        if self._backend.picks_what_stops:
            return self._scale_in_as_the_backend_picks(plan)
        undrained = unfinished = 0
        if plan.routed:
            self.reconcile(snapshot, leaving=plan.victims)
            undrained = self._drain(plan, snapshot)
        if plan.finishes_jobs:
            unfinished = self._finish_jobs(plan)
        self._backend.remove(plan.victims)
        self._backend.scale_to(plan.service, plan.target)
        removed = tuple(r.name for r in plan.victims)
        return ScaleOutcome(plan.service, plan.before, plan.target, removed=removed,
                            undrained=undrained, unfinished=unfinished)  # fmt: skip

    def _scale_in_as_the_backend_picks(self, plan: ScalePlan) -> ScaleOutcome:
        """Fewer replicas, those the backend picks: they finish their work by themselves (on a
        Swarm, the mains' drain on SIGTERM, the workers' own), so no victim is drained first.
        The upstream follows what runs at once, not at the next tick: the drain waits for it."""
        self._backend.scale_to(plan.service, plan.target)
        after = self.snapshot()
        if plan.routed:
            self.reconcile(after)
        staying = {r.id for r in after.get(plan.service, [])}
        removed = tuple(r.name for r in plan.running if r.id not in staying)
        return ScaleOutcome(plan.service, plan.before, plan.target, removed=removed)

    def _busyness(self, running: Collection[Replica], snapshot: Snapshot) -> dict[str, int]:
        nginx = self._nginx(snapshot)
        servers = {self._server(r, nginx): r.id for r in running}
        in_flight = self.upstream.open_connections(nginx, servers.keys())
        return {replica_id: in_flight[server] for server, replica_id in servers.items()}

    def _drain(self, plan: ScalePlan, snapshot: Snapshot) -> int:
        """Wait until nginx has no request in flight to the victims; what is left at timeout."""
        nginx = self._nginx(snapshot)
        servers = {self._server(r, nginx) for r in plan.victims}
        settled = self._monotonic() + _RELOAD_SETTLE_SECONDS
        deadline = self._monotonic() + plan.drain_timeout_seconds
        while True:
            remaining = sum(self.upstream.open_connections(nginx, servers).values())
            now = self._monotonic()
            if (remaining == 0 and now >= settled) or now >= deadline:
                return remaining
            self._pause(_POLL_SECONDS)

    def _finish_jobs(self, plan: ScalePlan) -> int:
        """Wait until the victims run no job; the jobs left at timeout. A worker may take a job
        between the last look and its stop: a stopped Flowise worker finishes it (30 s)."""
        deadline = self._monotonic() + plan.drain_timeout_seconds
        while True:
            jobs = self._running_jobs(plan.service, plan.victims) or {}
            remaining = sum(jobs.values())
            if remaining == 0 or self._monotonic() >= deadline:
                return remaining
            self._pause(_POLL_SECONDS)

    def _reconcile_after_failure(self) -> None:
        with suppress(ActuatorError):  # the original error says more; the next tick retries
            self.reconcile(self.snapshot())

    def _server(self, replica: Replica, nginx: Replica) -> str:
        return f"{replica.address_on(nginx.addresses)}:{self._routing.upstream_port}"

    def _nginx(self, snapshot: Snapshot) -> Replica:
        """The running nginx, the one this engine reaches first."""
        running = [r for r in snapshot.get(self._routing.nginx_service, []) if r.state == "running"]
        if not running:
            raise ActuatorError(
                "find nginx", f"no running container of the service {self._routing.nginx_service!r}"
            )
        return next((r for r in running if self.upstream.reaches(r)), running[0])
