"""The `bullmq_queue` signal: size a service for the arrival rate of a BullMQ queue, plus what
it takes to work off the backlog in time.

Reads Flowise's queue keys in Redis (bullmq_reads) through the client it is handed; proposes
and learns without I/O. A backlog-only rule (KEDA's Redis list scaler) reads 0 the moment the queue
catches up and scales in while jobs still pour in; the arrival rate does not.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field

from autoscaler.policy import Memory, Observation, Proposal, Unavailable
from autoscaler.policy.parameters import Behavior, Strict
from autoscaler.policy.proposals import within_tolerance
from autoscaler.signals.bullmq_reads import BullMQQueue, QueueLoad
from autoscaler.signals.kind import Connections
from autoscaler.signals.queue_sizing import (
    DEFAULT_CONCURRENCY,
    Demand,
    QueueMemory,
    Window,
    Workers,
    learn,
    noise_utilization,
    rising_step,
    slots_needed,
)


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
        description="How many jobs per second one busy replica completes: only the starting "
        "estimate (a job's time is then WORKER_CONCURRENCY / this); the daemon learns the "
        "real job time from the jobs that finish.",
    )
    drain_backlog_seconds: float = Field(
        default=15,
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
        default=0.8,
        gt=0,
        le=1,
        description="Size for this share of the workers' job slots busy: the headroom takes "
        "arrivals above the mean without a backlog. More where the arrivals within "
        "`drain_backlog_seconds` (or a job's time, if longer) are many: the slots then need "
        "hold only their noise, 3 standard deviations of their count, as much as the last "
        "minute's reads vary and at least a Poisson count's (square-root staffing: for "
        "Poisson arrivals, 85 % at 20 jobs/s, 95 % at 200 jobs/s with the default drain "
        "time).",
    )
    surge_factor: float = Field(
        default=2,
        gt=1,
        description="Arrivals over the last reads (their median) at this many times the "
        "window's mean, or at this fraction of it, are a surge or its end: scale for them at "
        "once, not for the window's mean.",
    )
    scale_up_headroom: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="A scale-up asks for this share more than the load needs: a count that "
        "grows with the load then holds for a while, instead of costing a scale change for "
        "each replica on a ramp. The surplus rule of the scale-down behavior takes it back "
        "when the load stops growing. While the arrivals clearly rise, a scale-up steps ahead "
        "of the rise instead where that is a replica or more larger: the step that costs as "
        "much in idle replicas as in changes, a change worth the surplus rule's "
        "`surplus_replica_seconds`.",
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
        return BullMQQueue(
            connections.redis,
            self.queue,
            connections.key_prefix,
            concurrency,
            connections.redis_clients,
        )

    def propose(
        self, observation: Observation, behavior: Behavior, memory: Memory | None, now: float
    ) -> Proposal:
        before = None if memory is None else QueueMemory.from_memory(memory)
        reading = observation.readings.get(self.name, Unavailable("not read"))
        if not isinstance(reading, QueueLoad):
            reason = reading.reason if isinstance(reading, Unavailable) else repr(reading)
            return Proposal(self.name, None, f"unavailable: {reason}", memory=memory)
        concurrency = reading.concurrency or DEFAULT_CONCURRENCY
        window = Window(self.arrival_window_seconds, concurrency / self.jobs_per_second_per_replica)
        learned = learn(reading, before, window, now)
        proposal = self._size(reading, learned, concurrency, observation, behavior)
        return replace(proposal, memory=learned.to_memory())

    def _size(
        self,
        load: QueueLoad,
        learned: QueueMemory,
        concurrency: int,
        observation: Observation,
        behavior: Behavior,
    ) -> Proposal:
        workers = Workers(
            ready_slots=_ready_workers(load, observation) * concurrency,
            asked_slots=observation.current_replicas * concurrency,
            startup_seconds=observation.startup_seconds,
            starting_seconds_left=observation.starting_seconds_left,
        )
        demand = slots_needed(load, learned, workers, self.drain_backlog_seconds, self.surge_factor)
        utilization = self._utilization(demand, learned)
        sizing = _Sizing(load, concurrency, utilization, observation, behavior)
        proposal = self._propose(demand, sizing)
        if demand.arrival_rate is None:
            return replace(proposal, may_scale_down=False)
        return replace(
            proposal,
            lasting=learned.shorter_jobs(),
            without_backlog=self._without_backlog(demand, sizing, proposal),
        )

    def _propose(self, demand: Demand, sizing: _Sizing) -> Proposal:
        load, concurrency, utilization = sizing.load, sizing.concurrency, sizing.utilization
        needed = demand.workers(concurrency, utilization)
        if load.backlog + load.active > 0:
            needed = max(needed, 1.0)  # work is waiting or running: never propose zero workers
        stepping = ""
        if needed > sizing.observation.current_replicas * (1 + sizing.behavior.scale_up.tolerance):
            needed, stepping = self._step_up(
                needed, demand, concurrency, sizing.behavior, utilization
            )
        described = _described(load, demand, concurrency, utilization) + stepping
        return within_tolerance(self.name, needed, described, sizing.observation, sizing.behavior)

    def _without_backlog(self, demand: Demand, sizing: _Sizing, proposal: Proposal) -> int | None:
        """While jobs wait, the count the proposal comes down to once they are worked off: less
        where working them off adds workers beyond the headroom the utilization leaves. None
        while none wait."""
        if sizing.load.backlog == 0 or proposal.replicas is None:
            return None
        if demand.slots <= demand.serving_slots / sizing.utilization:
            return proposal.replicas
        for_load = self._propose(replace(demand, draining_slots=0.0), sizing).replicas
        return proposal.replicas if for_load is None else min(for_load, proposal.replicas)

    def _utilization(self, demand: Demand, learned: QueueMemory) -> float:
        """The share of the slots to size for: `target_utilization`, or more where the arrivals
        within the drain time are many and steady enough that their noise, as they vary read by
        read, fits in fewer idle slots (`noise_utilization`); the target while the rate or how
        much it varies is not known."""
        if demand.arrival_rate is None:
            return self.target_utilization
        dispersion = learned.dispersion()
        if dispersion is None:
            return self.target_utilization
        steady = noise_utilization(
            demand.arrival_rate, demand.job_seconds, self.drain_backlog_seconds, dispersion
        )
        return max(self.target_utilization, steady)

    def _step_up(
        self,
        needed: float,
        demand: Demand,
        concurrency: int,
        behavior: Behavior,
        utilization: float,
    ) -> tuple[float, str]:
        """What a scale-up asks for: `scale_up_headroom` more than the load needs, so that a
        count that grows with the load holds for a while. While the arrivals clearly rise,
        the step that costs least on the rise (`rising_step`, a scale change worth the
        scale-down rules' `surplus_replica_seconds`) where it is a replica or more larger than
        the headroom, to the nearest whole replica: on a steep rise at a few replicas, where
        the headroom is a fraction of one, fewer and larger steps instead of one replica at a
        time; on a gentle rise, or with no surplus rule, the headroom alone. Says why where
        the rise sized the step."""
        with_headroom = needed * (1 + self.scale_up_headroom)
        rising = demand.rising_slots / (concurrency * utilization)
        step = rising_step(rising, behavior.scale_down.surplus_replica_seconds)
        if step < needed * self.scale_up_headroom + 1:
            return with_headroom, ""
        stepped = max(with_headroom, round(needed + step))
        return stepped, f"; {step:.1f} workers ahead, the step that costs least on the rise"


@dataclass(frozen=True)
class _Sizing:
    """What a count is sized with, besides the demand."""

    load: QueueLoad
    concurrency: int
    utilization: float
    observation: Observation
    behavior: Behavior


def _ready_workers(load: QueueLoad, observation: Observation) -> int:
    """Workers taking jobs: those registered with the queue where Redis tells, else the ready
    replicas; never more than the replicas there are."""
    if load.workers is None:
        return observation.ready_replicas
    return min(load.workers, observation.current_replicas)


def _described(load: QueueLoad, demand: Demand, concurrency: int, utilization: float) -> str:
    if demand.arrival_rate is None:
        arrivals = "arrival rate not known yet"
    else:
        arrivals = f"{demand.arrival_rate:.2f} jobs/s arriving ({demand.rate_taken})"
    jobs = f"jobs of {demand.job_seconds:.1f}s"
    if demand.job_taken:
        jobs += f" ({demand.job_taken})"
    return (
        f"{arrivals}, backlog {load.backlog} ({demand.backlog_then:.0f} by the time a new "
        f"worker is ready), {load.active} active, {jobs}: "
        f"{demand.slots:.1f} of {concurrency} slots per worker, sized for {utilization:.0%}"
    )
