"""What goes into a decision and what comes out of it. Purely computational, no I/O here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from autoscaler.policy.parameters import Behavior

Memory = Mapping[str, Any]
"""What one signal learned from its past reads, as plain JSON data: the signal kind alone
knows its shape; the policy only keeps it between decisions."""


@dataclass(frozen=True)
class Unavailable:
    """A metric that could not be read this time, and why. Never a reason to scale down."""

    reason: str
    source: str = ""
    """What failed to answer (redis, nginx, ...), for the error counts."""


@dataclass(frozen=True)
class Observation:
    """A service as the sources and the engine saw it at one tick."""

    current_replicas: int
    """Replicas the service has now: the count a change starts from."""
    ready_replicas: int
    """Replicas that can take work now: only these count as capacity."""
    readings: Mapping[str, object] = field(default_factory=dict)
    """Signal name -> what its source read: the signal kind's own reading, or Unavailable."""
    startup_seconds: float = 0.0
    """How long a replica asked for now will take to take work: what the service learned."""
    starting_seconds_left: float = 0.0
    """How long the replicas starting now still need, as far as the service learned; 0 when
    none is starting."""


@dataclass(frozen=True)
class Recommendation:
    at: float
    replicas: int
    without_backlog: int | None = None
    """While jobs waited: the count it comes down to once they are worked off (fewer where
    working them off asked for workers of its own). None: no job waited."""

    def once_worked_off(self) -> int:
        """The count this recommendation asks for once its backlog is worked off."""
        return self.replicas if self.without_backlog is None else self.without_backlog


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


ASSUMED_STARTUP_SECONDS = 30.0
"""Until a start was seen: a Flowise main or worker takes 20 to 50 s to start on a busy host."""


@dataclass(frozen=True)
class StartupMemory:
    """What the service's scale-ups taught of how long a new replica takes to take work."""

    seconds: float | None = None
    """The learned start-to-ready time; None until one start was seen."""
    waiting_since: float | None = None
    """When the scale-up that is not ready yet was asked for."""

    @property
    def expected_seconds(self) -> float:
        return ASSUMED_STARTUP_SECONDS if self.seconds is None else self.seconds

    def seconds_left(self, now: float) -> float:
        """How long the replicas starting now still need; 0 when none is starting."""
        if self.waiting_since is None:
            return 0.0
        return max(0.0, self.expected_seconds - (now - self.waiting_since))


@dataclass(frozen=True)
class ServiceHistory:
    """What the policy remembers of a service between ticks."""

    recommendations: tuple[Recommendation, ...] = ()
    events: tuple[ScaleEvent, ...] = ()
    override: Override | None = None
    memory: Mapping[str, Memory] = field(default_factory=dict)
    """Signal name -> what its reads taught it."""
    startup: StartupMemory = field(default_factory=StartupMemory)

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

    def with_memory(self, memory: Mapping[str, Memory]) -> ServiceHistory:
        return replace(self, memory=memory)

    def with_startup(self, startup: StartupMemory) -> ServiceHistory:
        return replace(self, startup=startup)


@dataclass(frozen=True)
class Proposal:
    """One signal's recommendation, or None when its metric is unavailable."""

    signal: str
    replicas: int | None
    reason: str
    may_scale_down: bool = True
    """False when the data is partial: the proposal may add replicas but never remove them."""
    memory: Memory | None = None
    """What the signal learned up to this proposal; None when it learns nothing."""
    lasting: str = ""
    """Why a fall in this proposal will last, where the signal knows (the jobs got shorter):
    the scale-down then waits out its window but not its surplus budget. Empty: not known."""
    without_backlog: int | None = None
    """While jobs wait: the count this proposal comes down to once they are worked off (fewer
    where working them off asks for workers of its own). None: no job waits, or not known."""


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
    memory: Mapping[str, Memory] = field(default_factory=dict)
    """What the signals learned up to this decision: the history remembers it."""
    startup: StartupMemory = field(default_factory=StartupMemory)
    """What the service's starts taught up to this decision: the history remembers it."""
    without_backlog: int | None = None
    """While jobs wait, what the recommendation comes down to once they are worked off: the
    history remembers it (Recommendation.without_backlog)."""

    @property
    def change(self) -> int:
        return self.replicas - self.current

    def explain(self) -> str:
        """The decision in one line: each proposal, then each stage that had a say."""
        proposals = "; ".join(f"{p.signal}: {p.reason}" for p in self.proposals)
        stages = " -> ".join(f"{s.stage} {s.replicas} ({s.reason})" for s in self.steps)
        return f"{self.service} {self.current} -> {self.replicas}: {proposals} | {stages}"


class SignalRule(Protocol):
    """A configured signal, whatever its kind: it names itself and proposes a count."""

    @property
    def name(self) -> str: ...

    def propose(
        self, observation: Observation, behavior: Behavior, memory: Memory | None, now: float
    ) -> Proposal: ...


class ScalingRules(Protocol):
    """How one service is scaled: its bounds, its signals and how fast to follow them."""

    @property
    def min_replicas(self) -> int: ...

    @property
    def max_replicas(self) -> int: ...

    @property
    def signals(self) -> Sequence[SignalRule]: ...

    @property
    def behavior(self) -> Behavior: ...
