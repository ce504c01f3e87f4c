"""Replay a trace under one scaler and score it. Purely computational, no I/O here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.errors import BadInput
from autoscaler.simulation.service import Service, ServiceModel, ServiceView
from autoscaler.simulation.workload import MS_PER_SECOND, Workload

DRAIN_LIMIT_SECONDS = 86_400
"""How long after the trace the jobs still there may take: a policy that keeps no replica
while jobs wait would never finish them."""


class SimulationError(BadInput):
    """A replay that cannot finish."""


class Scaler(Protocol):
    """Anything that sets the replica count from what it sees, once per interval."""

    @property
    def interval_seconds(self) -> float: ...

    def replicas(self, view: ServiceView) -> int: ...


@dataclass(frozen=True)
class PolicyResult:
    replica_seconds: int
    """Replicas paid for, summed over the seconds: those asked for, and removed ones still
    finishing jobs."""
    slo_violation_seconds: int
    """Seconds that ended with a job waiting longer than the SLO."""
    p95_wait_seconds: int
    """95 % of the jobs waited this long or less for a slot."""
    scale_changes: int
    """Times the scaler changed the count it asked for."""
    max_replicas: int
    """The most replicas it asked for at once."""


@dataclass(frozen=True)
class Timeline:
    """One run second by second, from 0 until every job is done: index i is second i."""

    replicas: tuple[int, ...]
    """Replicas asked for."""
    ready: tuple[int, ...]
    """Of them, those taking jobs."""
    waiting_jobs: tuple[int, ...]
    """Jobs waiting for a slot as the second ends."""
    queue_wait_seconds: tuple[int, ...]
    """How long the oldest job still waiting as the second ends has waited; 0: none waits."""


@dataclass(frozen=True)
class Run:
    result: PolicyResult
    timeline: Timeline


def simulate(
    workload: Workload,
    scaler: Scaler,
    model: ServiceModel,
    slo_seconds: float,
    initial_replicas: int,
) -> PolicyResult:
    """The run's score (see `replay`)."""
    return replay(workload, scaler, model, slo_seconds, initial_replicas).result


def replay(
    workload: Workload,
    scaler: Scaler,
    model: ServiceModel,
    slo_seconds: float,
    initial_replicas: int,
) -> Run:
    """Second by second: the scaler acts when its interval is due, then the second's jobs
    arrive and the slots work. After the trace, seconds without arrivals follow until every
    job is done: each policy pays for all the work, as the lower bound assumes. A job started
    in the second it arrived waited 0 s."""
    service = Service(model, initial_replicas)
    tally = _Tally(slo_seconds, max_replicas=initial_replicas)
    next_tick = 0.0
    end = len(workload.arrivals)
    for second in range(end + DRAIN_LIMIT_SECONDS):
        if second >= end and not service.has_work:
            return Run(tally.result(), tally.timeline())
        if second >= next_tick:
            next_tick += scaler.interval_seconds
            wanted = scaler.replicas(service.view(second))
            tally.count_change(service.requested, wanted)
            service.scale_to(wanted, second)
        tally.count_paid(service.billed)  # as the second starts: removed replicas may finish
        started = service.run_second(second, *workload.at(second))
        tally.count_second(service, second, started)
    raise SimulationError(
        f"jobs were still unfinished {DRAIN_LIMIT_SECONDS} s after the trace ended: "
        "the policy left no replica to run them"
    )


def lower_bound_replica_seconds(workload: Workload, concurrency: int) -> int:
    """The work's slot-seconds over the slots per replica, rounded up: no policy pays less.

    Every job runs to its end (`simulate` runs on until it does), in a slot of a replica that
    is paid for in every second it runs: K slots per replica-second at most.
    """
    slot_ms_per_replica_second = concurrency * MS_PER_SECOND
    return -(-workload.slot_ms // slot_ms_per_replica_second)


@dataclass
class _Tally:
    slo_seconds: float
    max_replicas: int
    replica_seconds: int = 0
    slo_violation_seconds: int = 0
    scale_changes: int = 0
    waits: Counter[int] = field(default_factory=Counter)
    replicas: list[int] = field(default_factory=list)
    ready: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    queue_waits: list[int] = field(default_factory=list)

    def count_change(self, before: int, after: int) -> None:
        if after != before:
            self.scale_changes += 1
            self.max_replicas = max(self.max_replicas, after)

    def count_paid(self, replicas: int) -> None:
        self.replica_seconds += replicas

    def count_second(self, service: Service, second: int, started: list[tuple[int, int]]) -> None:
        for seconds, jobs in started:
            self.waits[seconds] += jobs
        oldest = service.oldest_arrival()
        # At the end of `second`, a job that arrived at the start of `oldest` waited this long.
        wait = 0 if oldest is None else second + 1 - oldest
        if wait > self.slo_seconds:
            self.slo_violation_seconds += 1
        self.replicas.append(service.requested)
        self.ready.append(service.ready(second))
        self.waiting.append(service.waiting)
        self.queue_waits.append(wait)

    def result(self) -> PolicyResult:
        return PolicyResult(
            replica_seconds=self.replica_seconds,
            slo_violation_seconds=self.slo_violation_seconds,
            p95_wait_seconds=_percentile(self.waits, 95),
            scale_changes=self.scale_changes,
            max_replicas=self.max_replicas,
        )

    def timeline(self) -> Timeline:
        return Timeline(
            replicas=tuple(self.replicas),
            ready=tuple(self.ready),
            waiting_jobs=tuple(self.waiting),
            queue_wait_seconds=tuple(self.queue_waits),
        )


def _percentile(counts: Counter[int], percent: int) -> int:
    """The smallest value that `percent` % of the counted items are at or below."""
    total = sum(counts.values())
    covered = 0
    for value in sorted(counts):
        covered += counts[value]
        if covered * 100 >= percent * total:
            return value
    return 0
