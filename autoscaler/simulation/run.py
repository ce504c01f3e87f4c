"""Replay a trace under one scaler and score it. Purely computational, no I/O here."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from autoscaler.simulation.service import Service, ServiceModel, ServiceView


class Scaler(Protocol):
    """Anything that sets the replica count from what it sees, once per interval."""

    @property
    def interval_seconds(self) -> float: ...

    def replicas(self, view: ServiceView) -> int: ...


@dataclass(frozen=True)
class PolicyResult:
    replica_seconds: int
    """Replicas asked for, summed over the seconds: what the service costs."""
    slo_violation_seconds: int
    """Seconds that ended with a job waiting longer than the SLO."""
    p95_wait_seconds: int
    """95 % of the jobs waited this long or less."""
    scale_changes: int
    """Times the scaler changed the count it asked for."""
    max_replicas: int
    """The most replicas it asked for at once."""


def simulate(
    arrivals: Sequence[int],
    scaler: Scaler,
    model: ServiceModel,
    slo_seconds: float,
    initial_replicas: int,
) -> PolicyResult:
    """Second by second: the scaler acts when its interval is due, then jobs arrive and are
    served. A job served in the second it arrived waited 0 s; one still waiting at the end
    counts the time it waited so far."""
    service = Service(model, initial_replicas)
    tally = _Tally(slo_seconds, max_replicas=initial_replicas)
    next_tick = 0.0
    for second, arriving in enumerate(arrivals):
        if second >= next_tick:
            next_tick += scaler.interval_seconds
            wanted = scaler.replicas(service.view(second))
            tally.count_change(service.requested, wanted)
            service.scale_to(wanted, second)
        served = service.run_second(second, arriving)
        tally.count_second(service, second, served)
    end = len(arrivals)
    tally.count_waits((end - arrived_at, jobs) for arrived_at, jobs in service.waiting())
    return tally.result()


@dataclass
class _Tally:
    slo_seconds: float
    max_replicas: int
    replica_seconds: int = 0
    slo_violation_seconds: int = 0
    scale_changes: int = 0
    waits: Counter[int] = field(default_factory=Counter)

    def count_change(self, before: int, after: int) -> None:
        if after != before:
            self.scale_changes += 1
            self.max_replicas = max(self.max_replicas, after)

    def count_second(self, service: Service, second: int, served: list[tuple[int, int]]) -> None:
        self.replica_seconds += service.requested
        self.count_waits(served)
        oldest = service.oldest_arrival()
        # At the end of `second`, a job that arrived at the start of `oldest` waited this long.
        if oldest is not None and second + 1 - oldest > self.slo_seconds:
            self.slo_violation_seconds += 1

    def count_waits(self, waits: Iterable[tuple[int, int]]) -> None:
        for seconds, jobs in waits:
            self.waits[seconds] += jobs

    def result(self) -> PolicyResult:
        return PolicyResult(
            replica_seconds=self.replica_seconds,
            slo_violation_seconds=self.slo_violation_seconds,
            p95_wait_seconds=_percentile(self.waits, 95),
            scale_changes=self.scale_changes,
            max_replicas=self.max_replicas,
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
