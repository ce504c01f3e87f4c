"""What a scaling action will do, decided before anything is done (plan, then apply). Purely
computational, no I/O here: `daemon --dry-run`, `status` and the tests read plans."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from autoscaler.actuators.replicas import Replica, Snapshot, choose_victims, paused_replicas


@dataclass(frozen=True)
class Routing:
    """Which compose service nginx routes to, and how long the transaction may wait."""

    nginx_service: str
    upstream_service: str
    upstream_port: int
    ready_timeout_seconds: float
    drain_timeout_seconds: float


@dataclass(frozen=True)
class ScalePlan:
    service: str
    running: tuple[Replica, ...]
    """The replicas running when the plan was made."""
    target: int
    routed: bool
    """The service is behind nginx: new replicas join the upstream once fit, victims leave it
    and drain before they stop."""
    victims: tuple[Replica, ...] = ()
    """On scale-in, exactly the replicas that will be stopped and removed."""
    woken: tuple[Replica, ...] = ()
    """On scale-out, the warm replicas that will be unpaused, before any is started."""
    ready_timeout_seconds: float = 0
    drain_timeout_seconds: float = 0
    finishes_jobs: bool = False
    """The service's jobs are seen (a queue's workers): on scale-in its victims are the idlest
    workers, and each finishes its running jobs before it stops (bounded by the drain
    timeout)."""
    victims_pending: bool = False
    """On scale-in, the victims are not chosen yet: the plan is an outline (`outline_scale`),
    made without reading each replica's work in progress; applying it chooses them."""

    @property
    def before(self) -> int:
        return len(self.running)

    @property
    def summary(self) -> str:
        return f"{self.before} -> {self.target}"

    @property
    def direction(self) -> Literal["out", "in", "none"]:
        if self.target > self.before:
            return "out"
        return "in" if self.target < self.before else "none"

    def steps(self) -> tuple[str, ...]:
        """What applying the plan will do, in order, in words."""
        if self.direction == "out":
            return self._scale_out_steps()
        if self.direction == "in":
            return self._scale_in_steps()
        return (f"{self.service}: nothing to do at {self.target}",)

    def _scale_out_steps(self) -> tuple[str, ...]:
        started = self.target - self.before - len(self.woken)
        steps = []
        if self.woken:
            steps.append(f"unpause warm replica {', '.join(r.name for r in self.woken)}")
        if started:
            steps.append(f"docker compose up --scale {self.service}={self.target} (adds {started})")
        steps.append(f"wait up to {self.ready_timeout_seconds:g}s for each new replica to be fit")
        if self.routed:
            steps.append("add each to the nginx upstream as it becomes fit (nginx -t, reload)")
        return tuple(steps)

    def _scale_in_steps(self) -> tuple[str, ...]:
        names, them = ", ".join(r.name for r in self.victims), "them"
        steps = []
        if self.victims_pending:
            steps.append(self._choice_step())
            one = self.before - self.target == 1
            names, them = ("the victim", "it") if one else ("the victims", "them")
        if self.routed:
            steps += [
                f"take {names} out of the nginx upstream (nginx -t, reload)",
                f"wait up to {self.drain_timeout_seconds:g}s until nginx has no request in "
                f"flight to {them}",
            ]
        if self.finishes_jobs:
            steps.append(
                f"wait up to {self.drain_timeout_seconds:g}s until {names} run no job (their "
                "BullMQ job locks)"
            )
        steps.append(f"stop and remove {names}")
        return tuple(steps)

    def _choice_step(self) -> str:
        count = self.before - self.target
        which = "the least busy" if count == 1 else f"the {count} least busy"
        among = ", ".join(r.name for r in self.running)
        if self.routed:
            measure = "nginx's requests in flight to each"
        elif self.finishes_jobs:
            measure = "the jobs each runs"
        else:
            measure = "no work seen: the newest"
        return f"choose {which} of {among} as the action starts ({measure})"


def running_replicas(snapshot: Snapshot, service: str) -> tuple[Replica, ...]:
    return tuple(r for r in snapshot.get(service, []) if r.state == "running")


def plan_scale(
    service: str,
    target: int,
    snapshot: Snapshot,
    routing: Routing,
    busyness: Mapping[str, int] | None = None,
) -> ScalePlan:
    """`busyness`: replica id -> its work in progress, for a scale-in: the requests nginx has
    in flight to it (the routed service), else the jobs it runs (a queue's workers; None when
    they cannot be seen)."""
    running = running_replicas(snapshot, service)
    victims = tuple(choose_victims(running, len(running) - target, busyness))
    routed = service == routing.upstream_service
    woken = tuple(paused_replicas(snapshot.get(service, []))[: max(0, target - len(running))])
    return ScalePlan(
        service=service,
        running=running,
        target=target,
        routed=routed,
        victims=victims,
        woken=woken,
        ready_timeout_seconds=routing.ready_timeout_seconds,
        drain_timeout_seconds=routing.drain_timeout_seconds,
        finishes_jobs=not routed and busyness is not None,
    )


def outline_scale(
    service: str, target: int, snapshot: Snapshot, routing: Routing, jobs_seen: bool
) -> ScalePlan:
    """The plan as far as it is known without reading anything: a scale-in's victims are
    chosen as it is applied, from each replica's work in progress then (`plan_scale` with
    its busyness). `jobs_seen`: the service takes a queue's jobs, which its victims finish."""
    plan = plan_scale(service, target, snapshot, routing)
    if plan.direction != "in":
        return plan
    return replace(
        plan, victims=(), victims_pending=True, finishes_jobs=jobs_seen and not plan.routed
    )
