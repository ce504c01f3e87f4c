"""How many workers a BullMQ queue needs, in slots: a worker runs `concurrency` jobs at once
(Flowise's WORKER_CONCURRENCY), and a job holds its slot for its service time. Purely
computational, no I/O here.

By Little's law the slots busy are the arrival rate times the mean job time. The job time is
learned from the jobs that finished (BullMQ keeps when each started and finished), so the size
follows the job mix both ways: a switch to shorter jobs frees workers within a window, a switch
to longer ones shows at once in the slots held (`active`) and in the backlog.

The service is sized for when a worker asked for now will take jobs: the arrival rate by then
(the window's mean, its trend while rising, or a surge seen at the last read), and the
backlog that will wait by then, worked off within the drain time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from autoscaler.policy import Memory
from autoscaler.signals.bullmq_reads import QueueLoad

DEFAULT_CONCURRENCY = 10
"""The stack's WORKER_CONCURRENCY when nothing says otherwise."""
SHORTEST_JOB_SECONDS = 0.001
"""Jobs that all finish between two reads measure as taking no time: they take at least this."""
JOB_TIME_WINDOW_SECONDS = 20.0
"""The job time is taken from the last seconds only: a change of the job mix must show before
the backlog it causes does."""


@dataclass(frozen=True)
class RateReading:
    at: float
    rate: float


@dataclass(frozen=True)
class JobTimeReading:
    """The jobs that finished between two reads: how many, and their mean service time."""

    at: float
    jobs: float
    mean_seconds: float


@dataclass(frozen=True)
class SlotReading:
    """The slots held (jobs active) at a read, and the jobs that finished per second before it."""

    at: float
    active: int
    completion_rate: float


@dataclass(frozen=True)
class QueueMemory:
    """What the signal learned from the queue's past reads, within its window."""

    job_seconds: float
    """The mean service time of a job, as learned so far."""
    arrival_rates: tuple[RateReading, ...] = ()
    job_times: tuple[JobTimeReading, ...] = ()
    slots: tuple[SlotReading, ...] = ()

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


@dataclass(frozen=True)
class Window:
    """How far back the signal looks, and its starting estimate."""

    seconds: float
    initial_job_seconds: float


def learn(load: QueueLoad, before: QueueMemory | None, window: Window, now: float) -> QueueMemory:
    """The memory after this read: its arrival rate, job times and slots held, less what left
    the window; and the job time they tell.

    Two measures of the job time, the larger taken: the mean of the jobs that finished, and by
    Little's law the slots held over the jobs finished per second. The first lags when jobs get
    longer (the long ones have not finished yet); the second shows it at once, as the slots
    stay held while fewer jobs finish. Both drop at once when jobs get shorter.
    """
    memory = before or QueueMemory(window.initial_job_seconds)
    cutoff, recent = now - window.seconds, now - JOB_TIME_WINDOW_SECONDS
    rates = tuple(r for r in memory.arrival_rates if r.at > cutoff)
    times = tuple(t for t in memory.job_times if t.at > recent)
    slots = tuple(s for s in memory.slots if s.at > recent)
    if load.arrival_rate is not None:
        rates = (*rates, RateReading(now, load.arrival_rate))
    finished = _jobs_finished(load, memory, now)
    if load.mean_job_seconds is not None and finished > 0:
        times = (*times, JobTimeReading(now, finished, load.mean_job_seconds))
    if load.completion_rate is not None:
        slots = (*slots, SlotReading(now, load.active, load.completion_rate))
    measured = [m for m in (_weighted_mean(times), _littles_law(slots)) if m is not None]
    job_seconds = max(*measured, SHORTEST_JOB_SECONDS) if measured else memory.job_seconds
    return QueueMemory(job_seconds, rates, times, slots)


def _jobs_finished(load: QueueLoad, memory: QueueMemory, now: float) -> float:
    """Jobs finished since the previous read, from the completion rate and the time between."""
    if load.completion_rate is None or not memory.arrival_rates:
        return 1.0 if load.mean_job_seconds is not None else 0.0
    return load.completion_rate * max(now - memory.arrival_rates[-1].at, 0.0)


def _weighted_mean(times: Sequence[JobTimeReading]) -> float | None:
    jobs = sum(t.jobs for t in times)
    if jobs <= 0:
        return None
    return sum(t.jobs * t.mean_seconds for t in times) / jobs


def _littles_law(slots: Sequence[SlotReading]) -> float | None:
    """Slots held over jobs finished per second, over the window: the mean time a job holds
    its slot. None while no job finished."""
    finishing = sum(s.completion_rate for s in slots)
    if finishing <= 0:
        return None
    return sum(s.active for s in slots) / finishing


@dataclass(frozen=True)
class Demand:
    """The slots a queue needs, and how that was reckoned, for the decision's reason."""

    serving_slots: float
    """To keep up with the arrivals."""
    draining_slots: float
    """On top, to work the backlog off within the drain time."""
    arrival_rate: float | None
    rate_taken: str
    backlog_then: float
    """Jobs expected to wait when a worker asked for now takes jobs."""

    @property
    def slots(self) -> float:
        return self.serving_slots + self.draining_slots

    def workers(self, concurrency: int, utilization: float) -> float:
        """Workers for the arrivals at `utilization` of their slots; the headroom that leaves
        works a backlog off first, and only what it cannot within the drain time adds workers."""
        return max(self.serving_slots / utilization, self.slots) / concurrency


@dataclass(frozen=True)
class Workers:
    """The slots of the workers there are: taking jobs now, and asked for (ready by then)."""

    ready_slots: float
    asked_slots: float
    startup_seconds: float
    """How long a worker asked for now takes to take jobs."""
    starting_seconds_left: float
    """How long the workers starting now still need."""


def slots_needed(
    load: QueueLoad,
    memory: QueueMemory,
    workers: Workers,
    drain_seconds: float,
    surge_factor: float,
) -> Demand:
    """The slots to keep the arrivals served and the backlog worked off in time, when a worker
    asked for now is ready."""
    job_seconds = memory.job_seconds
    served_now = workers.ready_slots / job_seconds
    rates = _arrival_rates(memory, served_now, workers.startup_seconds, surge_factor)
    if rates is None:
        backlog_then = float(load.backlog)
        draining = backlog_then * job_seconds / drain_seconds
        return Demand(0.0, draining, None, "not known yet", backlog_then)
    backlog_then = load.backlog + _backlog_growth(rates, job_seconds, workers)
    draining = backlog_then * job_seconds / drain_seconds
    return Demand(rates.then * job_seconds, draining, rates.then, rates.taken, backlog_then)


@dataclass(frozen=True)
class ArrivalRates:
    now: float
    then: float
    """When a worker asked for now is ready."""
    taken: str


def _backlog_growth(rates: ArrivalRates, job_seconds: float, workers: Workers) -> float:
    """Jobs the backlog gains until a worker asked for now is ready: while the starting workers
    start, only the ready ones serve, at today's rate; then every worker asked for does, at the
    rate expected by then."""
    starting = min(workers.starting_seconds_left, workers.startup_seconds)
    short_now = max(0.0, rates.now - workers.ready_slots / job_seconds)
    short_then = max(0.0, rates.then - workers.asked_slots / job_seconds)
    return short_now * starting + short_then * (workers.startup_seconds - starting)


def _arrival_rates(
    memory: QueueMemory, served_rate: float, startup_seconds: float, surge_factor: float
) -> ArrivalRates | None:
    """The arrival rate now and when a worker asked for now is ready; None before one is known.

    The window's mean: a burst shorter than the window is worked off from the queue. While the
    rate clearly rises, its trend line, now and carried forward to then. And a surge, the last
    read arriving at `surge_factor` times what the ready workers serve, is sized for at once: a
    surge is far above the noise of one read, since the ready workers serve at least the usual
    rate.
    """
    mean = memory.mean_arrival_rate()
    if mean is None:
        return None
    last = memory.arrival_rates[-1].rate
    if last >= surge_factor * served_rate and last > mean:
        return ArrivalRates(last, last, "surge")
    rising = _clear_rise(memory.arrival_rates)
    if rising > 0:
        now = mean + rising * _window_middle(memory)
        return ArrivalRates(now, now + rising * startup_seconds, "rising trend")
    return ArrivalRates(mean, mean, "window mean")


TREND_CONFIDENCE = 3.0
"""A rise is a trend when its slope stands this many standard errors above zero: arrivals are
noisy read by read, and a trend carried forward from noise costs a scale change each time."""


def _clear_rise(rates: Sequence[RateReading]) -> float:
    """The least-squares slope of the rate over the window, in jobs/s per second, where it is
    clearly positive; else 0."""
    count = len(rates)
    if count < 5:
        return 0.0
    mean_at = sum(r.at for r in rates) / count
    mean_rate = sum(r.rate for r in rates) / count
    spread = sum((r.at - mean_at) ** 2 for r in rates)
    if spread == 0:
        return 0.0
    slope = sum((r.at - mean_at) * (r.rate - mean_rate) for r in rates) / spread
    residuals = sum((r.rate - mean_rate - slope * (r.at - mean_at)) ** 2 for r in rates)
    standard_error = (residuals / (count - 2) / spread) ** 0.5
    return slope if slope > TREND_CONFIDENCE * standard_error else 0.0


def _middle(rates: Sequence[RateReading]) -> float:
    return (rates[0].at + rates[-1].at) / 2


def _window_middle(memory: QueueMemory) -> float:
    """How long ago the middle of the window was: where its mean rate stands."""
    return memory.arrival_rates[-1].at - _middle(memory.arrival_rates)
