"""The `bullmq_queue` signal: size a service for the arrival rate of a BullMQ queue, plus what
it takes to work off the backlog in time.

Reads Flowise's queue keys in Redis (bullmq_reads) through the client it is handed; proposes
and learns without I/O. A backlog-only rule (KEDA's Redis list scaler) reads 0 the moment the queue
catches up and scales in while jobs still pour in; the arrival rate does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, TypeAdapter

from autoscaler.policy import Memory, Observation, Proposal, Unavailable
from autoscaler.policy.parameters import Behavior, Strict
from autoscaler.policy.proposals import within_tolerance
from autoscaler.signals.bullmq_reads import BullMQQueue, QueueLoad
from autoscaler.signals.kind import Connections

# How far one busy interval moves the learned throughput toward what it measured: a new level
# shows within two or three reads, and one odd interval moves it only half way.
MEASUREMENT_WEIGHT = 0.5


@dataclass(frozen=True)
class RateReading:
    at: float
    rate: float


@dataclass(frozen=True)
class QueueMemory:
    """What the signal learned from the queue's past reads."""

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

    def to_memory(self) -> Memory:
        return _MEMORY.dump_python(self, mode="json")  # type: ignore[no-any-return]

    @staticmethod
    def from_memory(memory: Memory) -> QueueMemory:
        return _MEMORY.validate_python(memory)


_MEMORY = TypeAdapter(QueueMemory)


class QueueSignal(Strict):
    """Scale on a BullMQ queue: enough replicas for the arrival rate, plus enough to drain the
    backlog in time."""

    kind: Literal["bullmq_queue"] = "bullmq_queue"
    queue: str = Field(
        default="flowise-queue-prediction",
        min_length=1,
        description="The BullMQ queue name: Flowise's QUEUE_NAME followed by `-prediction`, "
        "`-upsertion` or `-schedule`.",
    )
    jobs_per_second_per_replica: float = Field(
        gt=0,
        description="How many jobs per second one replica completes when it is busy: the "
        "starting estimate, refined from the completions the queue shows.",
    )
    drain_backlog_seconds: float = Field(
        default=60,
        gt=0,
        description="Size the service so a backlog is worked off within this many seconds, on "
        "top of keeping up with arrivals.",
    )
    arrival_window_seconds: float = Field(
        default=60,
        ge=0,
        le=3600,
        description="Keep up with the mean arrival rate over this many seconds: a burst "
        "shorter than that is worked off from the queue, not with replicas.",
    )
    target_utilization: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Size for this share of what the replicas can complete: the headroom takes "
        "arrivals above the mean without a backlog.",
    )
    surge_factor: float = Field(
        default=2,
        gt=1,
        description="An interval whose arrival rate is this many times what the ready "
        "replicas complete is a surge: scale for it at once, not for the window's mean.",
    )
    concurrency: int | None = Field(
        default=None,
        ge=1,
        le=100000,
        description="Jobs one worker runs at once; default: WORKER_CONCURRENCY in the stack's "
        "env file. Set it when the workers get theirs elsewhere.",
    )

    @property
    def name(self) -> str:
        return f"bullmq_queue:{self.queue}"

    @property
    def source_key(self) -> str:
        return self.name

    def open_reader(self, connections: Connections) -> BullMQQueue:
        concurrency = self.concurrency or connections.worker_concurrency
        return BullMQQueue(connections.redis, self.queue, connections.key_prefix, concurrency)

    def propose(
        self, observation: Observation, behavior: Behavior, memory: Memory | None, now: float
    ) -> Proposal:
        before = None if memory is None else QueueMemory.from_memory(memory)
        reading = observation.readings.get(self.name, Unavailable("not read"))
        if not isinstance(reading, QueueLoad):
            reason = reading.reason if isinstance(reading, Unavailable) else repr(reading)
            return Proposal(self.name, None, f"unavailable: {reason}", memory=memory)
        learned = self._learn(reading, observation.ready_replicas, before, now)
        proposal = self._size(reading, learned, observation, behavior)
        return Proposal(
            proposal.signal,
            proposal.replicas,
            proposal.reason,
            may_scale_down=proposal.may_scale_down,
            memory=learned.to_memory(),
        )

    def _learn(
        self, load: QueueLoad, ready: int, before: QueueMemory | None, now: float
    ) -> QueueMemory:
        """The throughput per replica starts at the configured value. Between two reads with
        the same ready replicas, completions per ready replica are a measurement of it when
        jobs waited at both reads (every replica was busy), otherwise a lower bound."""
        # A job or two can sit in `wait` for a moment even with idle workers; a job waiting for
        # every ready replica cannot.
        backlogged = load.backlog > 0 and load.backlog >= ready
        per_replica = self.jobs_per_second_per_replica
        rates: tuple[RateReading, ...] = ()
        if before is not None:
            per_replica = _per_replica(before, load, ready, backlogged)
            cutoff = now - self.arrival_window_seconds
            rates = tuple(r for r in before.arrival_rates if r.at > cutoff)
        if load.arrival_rate is not None:
            rates = (*rates, RateReading(now, load.arrival_rate))
        return QueueMemory(per_replica, backlogged, ready, rates)

    def _size(
        self, load: QueueLoad, learned: QueueMemory, observation: Observation, behavior: Behavior
    ) -> Proposal:
        """Replicas for the arrival rate, plus replicas to work off the backlog in time."""
        per_replica = learned.per_replica
        target_per_replica = per_replica * self.target_utilization
        ready_capacity = max(observation.ready_replicas, 1) * per_replica
        arrival_rate, taken = self._arrival_rate(load, learned, ready_capacity)
        drain_rate = load.backlog / self.drain_backlog_seconds
        if arrival_rate is None:
            needed = drain_rate / target_per_replica
            described = f"backlog {load.backlog}, arrival rate not known yet"
        else:
            needed = (arrival_rate + drain_rate) / target_per_replica
            described = f"{arrival_rate:.2f} jobs/s arriving ({taken}), backlog {load.backlog}"
        utilization = self.target_utilization
        described += f", {per_replica:.2f} jobs/s per replica, sized for {utilization:.0%} of it"
        if load.backlog + load.active > 0:
            needed = max(needed, 1.0)  # work is waiting or running: never propose zero workers
        proposal = within_tolerance(self.name, needed, described, observation, behavior)
        if arrival_rate is None:
            return Proposal(
                proposal.signal, proposal.replicas, proposal.reason, may_scale_down=False
            )
        return proposal

    def _arrival_rate(
        self, load: QueueLoad, learned: QueueMemory, ready_capacity: float
    ) -> tuple[float | None, str]:
        """The rate to size for, and how it was taken.

        The mean over the arrival window: a burst shorter than that is worked off from the
        queue. But a surge, an interval with `surge_factor` times what the ready replicas
        complete, is sized for at once: waiting a window for it to show in the mean only grows
        the backlog.
        """
        mean = learned.mean_arrival_rate()
        last = load.arrival_rate
        if last is not None and mean is not None and last >= self.surge_factor * ready_capacity:
            return max(last, mean), "surge"
        return mean, f"mean over {self.arrival_window_seconds:g}s"


def _per_replica(before: QueueMemory, load: QueueLoad, ready: int, backlogged: bool) -> float:
    if before.ready != ready or ready == 0 or load.completion_rate is None:
        return before.per_replica
    seen = load.completion_rate / ready
    if before.backlogged and backlogged:
        return before.per_replica + MEASUREMENT_WEIGHT * (seen - before.per_replica)
    return max(before.per_replica, seen)
