"""What goes into a decision and what comes out of it. Purely computational, no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from autoscaler.metrics import HttpLoad, QueueLoad, Unavailable

Reading = QueueLoad | HttpLoad | Unavailable


@dataclass(frozen=True)
class Observation:
    """A service as the sources and the engine saw it at one tick."""

    current_replicas: int
    """Replicas the service has now: the count a change starts from."""
    ready_replicas: int
    """Replicas that can take work now: only these count as capacity."""
    readings: Mapping[str, Reading] = field(default_factory=dict)
    """Signal name -> what its source read."""


@dataclass(frozen=True)
class Recommendation:
    at: float
    replicas: int


@dataclass(frozen=True)
class ScaleEvent:
    at: float
    before: int
    after: int

    @property
    def change(self) -> int:
        return self.after - self.before


@dataclass(frozen=True)
class Override:
    """A count pinned by hand: it wins over every signal until it expires."""

    replicas: int
    until: float | None = None
    """When the pin ends; None pins for good."""

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until


@dataclass(frozen=True)
class RateReading:
    at: float
    rate: float


@dataclass(frozen=True)
class QueueHistory:
    """What the policy learned from a queue's past reads."""

    per_replica: float
    """Jobs per second one ready replica completes, as learned so far."""
    backlogged: bool
    """The last read found at least one job waiting per ready replica: all of them were busy."""
    ready: int
    """Ready replicas at the last read."""
    arrival_rates: tuple[RateReading, ...] = ()
    """The arrival rates read within the signal's arrival window, oldest first."""

    def mean_arrival_rate(self) -> float | None:
        if not self.arrival_rates:
            return None
        return sum(r.rate for r in self.arrival_rates) / len(self.arrival_rates)


@dataclass(frozen=True)
class ServiceHistory:
    """What the policy remembers of a service between ticks."""

    recommendations: tuple[Recommendation, ...] = ()
    events: tuple[ScaleEvent, ...] = ()
    override: Override | None = None
    queues: Mapping[str, QueueHistory] = field(default_factory=dict)
    """Queue signal name -> what its reads taught."""

    def remembering(self, recommendation: Recommendation, horizon: float) -> ServiceHistory:
        """This history plus a recommendation, without what is older than `horizon` seconds."""
        cutoff = recommendation.at - horizon
        kept = tuple(r for r in self.recommendations if r.at > cutoff)
        return replace(self, recommendations=(*kept, recommendation))

    def with_event(self, event: ScaleEvent, horizon: float) -> ServiceHistory:
        """This history plus a scale change, without what is older than `horizon` seconds."""
        cutoff = event.at - horizon
        kept = tuple(e for e in self.events if e.at > cutoff)
        return replace(self, events=(*kept, event))

    def with_override(self, override: Override | None) -> ServiceHistory:
        return replace(self, override=override)

    def with_queues(self, queues: Mapping[str, QueueHistory]) -> ServiceHistory:
        return replace(self, queues=queues)


@dataclass(frozen=True)
class Proposal:
    """One signal's recommendation, or None when its metric is unavailable."""

    signal: str
    replicas: int | None
    reason: str
    may_scale_down: bool = True
    """False when the data is partial: the proposal may add replicas but never remove them."""


Stage = Literal["proposed", "guarded", "stabilized", "cooldown", "limited", "clamped", "override"]


@dataclass(frozen=True)
class Step:
    """One stage of the chain from the proposals to the final count."""

    stage: Stage
    replicas: int
    reason: str


@dataclass(frozen=True)
class Decision:
    service: str
    current: int
    replicas: int
    """The count the service should have now."""
    recommendation: int
    """The count the signals asked for before stabilization: the history remembers it."""
    proposals: tuple[Proposal, ...]
    steps: tuple[Step, ...]
    queues: Mapping[str, QueueHistory] = field(default_factory=dict)
    """What the queues' reads taught up to this decision: the history remembers it."""

    @property
    def change(self) -> int:
        return self.replicas - self.current

    def explain(self) -> str:
        """The decision in one line: each proposal, then each stage that had a say."""
        proposals = "; ".join(f"{p.signal}: {p.reason}" for p in self.proposals)
        stages = " -> ".join(f"{s.stage} {s.replicas} ({s.reason})" for s in self.steps)
        return f"{self.service} {self.current} -> {self.replicas}: {proposals} | {stages}"
