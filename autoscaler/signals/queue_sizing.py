"""How many workers a BullMQ queue needs, in slots: a worker runs `concurrency` jobs at once
(Flowise's WORKER_CONCURRENCY), and a job holds its slot for its service time. Purely
computational, no I/O here.

By Little's law the slots busy are the arrival rate times the mean job time. The job time is
the mean of the jobs that finished within a minute (BullMQ keeps when each started and
finished), counted job by job, so one batch of long jobs moves it little and a switch to
shorter jobs shows as they finish. Longer jobs show later, once they finish: until then, while
jobs wait at every read of a stretch and no worker came or went, the slots held over the jobs
finished per second (Little's law again) tell how long the jobs now hold their slots; the
median of what the last reads' stretches tell, so that one read's spike (a batch of long jobs
that just took the slots) moves nothing. Two quicker tells of longer jobs, read by read, while
jobs wait: no job finishing for a while (the jobs running have run that long at least), and
the jobs that finish clearly longer than the job time sized for (the job mix changed).

The service is sized for when a worker asked for now will take jobs: the arrival rate by then
(the window's mean, its trend while rising, or the last reads' median where it stands far from
the mean: a surge, or its end) at the target utilization of the slots, or at
`noise_utilization` where that is higher (many arrivals within the wait allowed, as steady as
their reads tell, keep more of the slots busy), and the backlog that will wait by then, worked
off within the drain time. A burst that clearly ended, with no job waiting, leaves the window: its
reads are read as the rate left, so that the window's mean does not bring its workers back.
While the rate clearly rises, `rising_step` tells how far ahead of it a scale-up is worth
stepping.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import TypeAdapter

from autoscaler.policy import Memory
from autoscaler.signals.bullmq_reads import QueueLoad

DEFAULT_CONCURRENCY = 10
"""The stack's WORKER_CONCURRENCY when nothing says otherwise."""
SHORTEST_JOB_SECONDS = 0.001
"""Jobs that all finish between two reads measure as taking no time: they take at least this."""
JOB_TIME_WINDOW_SECONDS = 60.0
"""The job time is the mean of the jobs that finished within this many seconds: long enough
that a batch of long jobs among short ones moves it little."""
HELD_WINDOW_SECONDS = 20.0
"""Little's law is read over this stretch of reads, each with jobs waiting and the same
workers: slots held steadily, not slots that were just added or just freed."""
HELD_READS = 3
"""Little's law tells the job time once this many reads in a row had a steady stretch: the
median of theirs. Right after a batch of long jobs takes the slots, few jobs finish, and one
read's stretch tells of jobs longer than the mix's for a read or two."""
HELD_AT_MOST = 3.0
"""Little's law may tell jobs at most this many times as long as the jobs that finished: the
slots held while a batch of long jobs runs tell more of that batch than of the job mix."""


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
    backlog: int = 0
    workers: int | None = None
    """Workers registered on the queue at the read, where Redis tells."""


@dataclass(frozen=True)
class LongestJobTime:
    """The longest job time learned lately, and when: what a fall in the job time is told from."""

    at: float
    seconds: float


LONGEST_JOB_TIME_SECONDS = 300.0
"""The longest job time learned is kept this long, unless a longer one comes."""
SHORTER_JOBS_FACTOR = 4.0
"""A job time learned this many times shorter than the longest lately: the job mix changed, not
the noise of a steady mix of long and short jobs (bench/policy.py's bimodal trace, jobs of 1 s
and of 12 s one second in five, reaches 3)."""
LONGER_JOBS_FACTOR = SHORTER_JOBS_FACTOR
"""Jobs finishing while jobs wait this many times as long as the job time sized for: the job mix
changed to longer jobs, not a batch of long ones in a steady mix (in the bimodal trace the 12 s
jobs stay under this many times the longest minute's mean lately, about 4 s)."""
LONGER_JOBS_READS = 2
"""The jobs that finished over this many reads tell of longer jobs, each read with jobs waiting:
a read's jobs alone may be one batch's."""


@dataclass(frozen=True)
class QueueMemory:
    """What the signal learned from the queue's past reads, within its window."""

    job_seconds: float
    """The mean service time of a job, as learned so far."""
    arrival_rates: tuple[RateReading, ...] = ()
    job_times: tuple[JobTimeReading, ...] = ()
    slots: tuple[SlotReading, ...] = ()
    held_run: tuple[float, ...] = ()
    """Little's law over the stretch of each of the last reads (HELD_READS at most) with a
    steady one: a read without empties it."""
    longest: LongestJobTime | None = None
    """The longest job time learned within LONGEST_JOB_TIME_SECONDS."""

    @property
    def held_job_seconds(self) -> float | None:
        """While the last HELD_READS reads each had a stretch where jobs waited at every read:
        the median of the slots held over the jobs finished per second (Little's law) over each
        stretch; None otherwise."""
        if len(self.held_run) < HELD_READS:
            return None
        return statistics.median(self.held_run)

    def shorter_jobs(self) -> str:
        """Why the jobs are now clearly shorter than lately, if they are: the job mix changed, so
        the slots it frees stay free; empty otherwise."""
        longest = self.longest
        if longest is None or self.job_seconds * SHORTER_JOBS_FACTOR > longest.seconds:
            return ""
        return f"jobs of {self.job_seconds:.1f}s, down from {longest.seconds:.1f}s"

    def mean_arrival_rate(self) -> float | None:
        if not self.arrival_rates:
            return None
        return sum(r.rate for r in self.arrival_rates) / len(self.arrival_rates)

    def dispersion(self) -> float | None:
        """How much more the arrivals vary read by read than a Poisson count does: (count -
        expected)^2 / expected summed over the window's reads (each but the first, which only
        starts the count), over their number less one; the count expected from the window's
        rate (a Poisson count's dispersion is 1: its variance is its mean); at least 1. None
        with fewer than DISPERSION_READS reads, or no arrivals: not known."""
        spans = [
            (later.at - earlier.at, later.rate)
            for earlier, later in zip(self.arrival_rates, self.arrival_rates[1:], strict=False)
            if later.at > earlier.at
        ]
        seconds = sum(span for span, _ in spans)
        if len(spans) < DISPERSION_READS - 1 or seconds <= 0:
            return None
        rate = sum(span * read for span, read in spans) / seconds
        if rate <= 0:
            return None
        spread = sum(span * (read - rate) ** 2 / rate for span, read in spans)
        return max(1.0, spread / (len(spans) - 1))

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
    their windows; the job times they tell, and the longest of those lately."""
    memory = before or QueueMemory(window.initial_job_seconds)
    rates = tuple(r for r in memory.arrival_rates if r.at > now - window.seconds)
    times = tuple(t for t in memory.job_times if t.at > now - JOB_TIME_WINDOW_SECONDS)
    slots = tuple(s for s in memory.slots if s.at > now - HELD_WINDOW_SECONDS)
    if load.arrival_rate is not None:
        rates = (*rates, RateReading(now, load.arrival_rate))
        if load.backlog == 0:
            rates = _discount_an_ended_burst(rates)
    finished = _jobs_finished(load, memory, now)
    if load.mean_job_seconds is not None and finished > 0:
        times = (*times, JobTimeReading(now, finished, load.mean_job_seconds))
    if load.completion_rate is not None:
        read = SlotReading(now, load.active, load.completion_rate, load.backlog, load.workers)
        slots = (*slots, read)
    measured = _weighted_mean(times)
    job_seconds = memory.job_seconds if measured is None else max(measured, SHORTEST_JOB_SECONDS)
    longest = memory.longest
    if longest is not None and longest.at <= now - LONGEST_JOB_TIME_SECONDS:
        longest = None
    if measured is not None and (longest is None or job_seconds >= longest.seconds):
        longest = LongestJobTime(now, job_seconds)
    held = _held_steadily(slots)
    run = () if held is None else (*memory.held_run, held)[-HELD_READS:]
    return QueueMemory(job_seconds, rates, times, slots, held_run=run, longest=longest)


CLEAR_END_FACTOR = 4.0
"""A burst clearly ended when the last reads' median stands this many times below the window's
mean: the square of the default surge factor, so that load that only swings discounts nothing
(bench/policy.py's noisy-flat trace, about 20/s with bursts, reads at most 3.3 times below its
minute's mean)."""


def _discount_an_ended_burst(rates: tuple[RateReading, ...]) -> tuple[RateReading, ...]:
    """The window's reads, those before the last RECENT_READS read as the last reads' median,
    where a burst clearly ended (its median CLEAR_END_FACTOR times below the window's mean, and
    clearly so: not a Poisson count's noise); unchanged otherwise. Called only on a read that
    told the arrivals while no job waited: the burst is over, not queued; a read that did not
    tell them discounts nothing.

    Without it the window's mean holds the burst for a window's length: once the mean falls
    within the surge factor of the recent reads it sizes for them again, and brings back
    workers the end of the burst just gave up (a scale-up and a scale-down more per burst).
    With it the mean sizes for the load that is left from the burst's end on; a new burst shows
    as a surge over it."""
    recent = _recent_median(rates)
    if recent is None:
        return rates
    mean = sum(r.rate for r in rates) / len(rates)
    if recent * CLEAR_END_FACTOR > mean or not _clearly_apart(recent, mean, rates):
        return rates
    earlier = tuple(RateReading(r.at, recent) for r in rates[:-RECENT_READS])
    return (*earlier, *rates[-RECENT_READS:])


def _held_steadily(slots: Sequence[SlotReading]) -> float | None:
    """Little's law over the stretch, where every read of it had jobs waiting (the slots were
    all busy) and the same workers; None otherwise."""
    steady = len(slots) >= MIN_HELD_READS and len({s.workers for s in slots}) == 1
    if not steady or any(s.backlog == 0 for s in slots):
        return None
    return _littles_law(slots)


MIN_HELD_READS = 3
"""A stretch of fewer reads tells too little: the jobs that finish in one read are noise."""


def _jobs_finished(load: QueueLoad, memory: QueueMemory, now: float) -> float:
    """How many jobs the read's mean job time stands for: those it timed, where it tells; else
    the jobs finished since the previous read, from the completion rate and the time between
    (a count that follows the slots held, and so runs high where long jobs finish)."""
    if load.timed_jobs is not None:
        return float(load.timed_jobs)
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
    job_seconds: float
    """The job time sized for."""
    job_taken: str = ""
    """Where the job time came from, where not from the jobs that finished."""
    rising_slots: float = 0.0
    """While the arrivals clearly rise: the slots the rise adds each second."""

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
    rates = _arrival_rates(memory, workers.startup_seconds, surge_factor)
    job_seconds, job_taken = _job_seconds(memory, rates)
    if rates is None:
        backlog_then = float(load.backlog)
        draining = backlog_then * job_seconds / drain_seconds
        return Demand(0.0, draining, None, "not known yet", backlog_then, job_seconds, job_taken)
    backlog_then = load.backlog + _backlog_growth(rates, job_seconds, workers)
    draining = backlog_then * job_seconds / drain_seconds
    return Demand(
        rates.then * job_seconds,
        draining,
        rates.then,
        rates.taken,
        backlog_then,
        job_seconds,
        job_taken,
        rates.rise * job_seconds,
    )


def _job_seconds(memory: QueueMemory, rates: ArrivalRates | None) -> tuple[float, str]:
    """The job time sized for, and where it came from where not from the jobs that finished.

    The jobs that finished tell the job time; the slots held steadily while jobs wait tell of
    longer jobs sooner, up to HELD_AT_MOST times as long. Not in a surge: jobs then wait
    because more arrive, not because they got longer. And never shorter than the longest
    learned lately, unless the jobs clearly got shorter (the job mix changed): a mix of long
    and short jobs whose minute-long mean wavers keeps the workers its long stretches need,
    instead of giving one up at each short stretch and asking for it again at the next long
    one (the HPA's scale-down window keeps the highest recommendation of 5 minutes alike).

    Jobs that turn longer show in the minute's mean only once enough of them finish, and in the
    slots held only after a stretch of reads; meanwhile the backlog grows, and a worker asked for
    late is late by its startup. Two tells come at the next reads, both only ever raising the
    job time (where the queue does not tell, nothing changes):

    - While jobs wait, every slot is busy: when no job then finishes for a while, the jobs
      running have run that long at least, and so that long is the job time at least (up to
      HELD_AT_MOST times the jobs that finished, as the slots held: the jobs that took every
      slot may be one batch of long ones in a mix).
    - Jobs that finish while jobs wait at LONGER_JOBS_READS reads in a row, LONGER_JOBS_FACTOR
      times as long as the job time sized for or more: the job mix changed to longer jobs, and
      they are what the slots now hold. The first of the long jobs to finish tell it seconds
      after the change, while the minute's mean still weighs the short jobs before it.
    """
    finished, held = memory.job_seconds, memory.held_job_seconds
    seconds, taken = finished, ""
    if held is not None and not (rates is not None and rates.surge) and held > finished:
        seconds, taken = min(held, HELD_AT_MOST * finished), "slots held while jobs wait"
    unfinished = _without_a_finish(memory.slots)
    if min(unfinished, HELD_AT_MOST * finished) > seconds:
        seconds = min(unfinished, HELD_AT_MOST * finished)
        taken = f"no job finished in {unfinished:.0f}s while jobs waited"
    longest = memory.longest
    if longest is not None and longest.seconds > seconds and not memory.shorter_jobs():
        seconds, taken = longest.seconds, f"the longest lately; {finished:.1f}s now"
    finishing = _finishing_while_waiting(memory)
    if finishing is not None and finishing >= LONGER_JOBS_FACTOR * seconds:
        seconds, taken = finishing, f"jobs finishing while jobs wait; {finished:.1f}s in the minute"
    return seconds, taken


def _without_a_finish(slots: Sequence[SlotReading]) -> float:
    """How long no job has finished while jobs waited at every read: since the earliest read
    after which none finished, where every read from it on had jobs waiting and running (the
    jobs running at it are running still); 0 when the newest read had jobs finish."""
    since = None
    for read in reversed(slots):
        if read.backlog == 0 or read.active == 0:
            break
        since = read.at
        if read.completion_rate > 0:
            break
    return 0.0 if since is None else slots[-1].at - since


def _finishing_while_waiting(memory: QueueMemory) -> float | None:
    """The mean time of the jobs that finished over the last LONGER_JOBS_READS reads, where each
    had jobs waiting and running; None otherwise, or when none of them was timed."""
    reads = memory.slots[-LONGER_JOBS_READS:]
    if len(reads) < LONGER_JOBS_READS or any(r.backlog == 0 or r.active == 0 for r in reads):
        return None
    return _weighted_mean([t for t in memory.job_times if t.at >= reads[0].at])


@dataclass(frozen=True)
class ArrivalRates:
    now: float
    then: float
    """When a worker asked for now is ready."""
    taken: str
    surge: bool = False
    """The recent reads stand far above the window's mean."""
    rise: float = 0.0
    """While the rate clearly rises: how fast, in jobs/s per second."""


def _backlog_growth(rates: ArrivalRates, job_seconds: float, workers: Workers) -> float:
    """Jobs the backlog gains until a worker asked for now is ready: while the starting workers
    start, only the ready ones serve, at today's rate; then every worker asked for does, at the
    rate expected by then."""
    starting = min(workers.starting_seconds_left, workers.startup_seconds)
    short_now = max(0.0, rates.now - workers.ready_slots / job_seconds)
    short_then = max(0.0, rates.then - workers.asked_slots / job_seconds)
    return short_now * starting + short_then * (workers.startup_seconds - starting)


def _arrival_rates(
    memory: QueueMemory, startup_seconds: float, surge_factor: float
) -> ArrivalRates | None:
    """The arrival rate now and when a worker asked for now is ready; None before one is known.

    Where the last reads' median stands `surge_factor` times above or below the window's mean,
    and clearly so (a surge, or its end), that median: a median, so that one read's spike moves
    nothing. Else the window's mean, a burst shorter than the window being worked off from the
    queue; while the rate clearly rises, its trend line, now and carried forward to then.
    """
    mean = memory.mean_arrival_rate()
    if mean is None:
        return None
    recent = _recent_median(memory.arrival_rates)
    if recent is not None and _surge_or_its_end(recent, mean, surge_factor, memory.arrival_rates):
        taken = "recent reads above the mean" if recent > mean else "recent reads below the mean"
        return ArrivalRates(recent, recent, taken, surge=recent > mean)
    rising = _clear_rise(memory.arrival_rates)
    if rising > 0:
        now = mean + rising * _window_middle(memory)
        return ArrivalRates(now, now + rising * startup_seconds, "rising trend", rise=rising)
    return ArrivalRates(mean, mean, "window mean")


DISPERSION_READS = 6
"""How many reads tell how much the arrivals vary: fewer tell too little of it."""
RECENT_READS = 3
"""How many of the last reads tell the rate now: their median, so one read's spike (a burst of
a second) is noise, while a surge shows at its second read."""
SHIFT_CONFIDENCE = 3.0
"""The recent median stands clearly apart from the window's mean when the two differ by this
many standard errors of a Poisson count over the recent reads."""


def _recent_median(rates: Sequence[RateReading]) -> float | None:
    """The median of the last reads; None while the window holds no more than those."""
    if len(rates) <= RECENT_READS:
        return None
    return statistics.median(r.rate for r in rates[-RECENT_READS:])


def _surge_or_its_end(
    recent: float, mean: float, surge_factor: float, rates: Sequence[RateReading]
) -> bool:
    """The recent median `surge_factor` times the mean, or the mean that times the median, and
    clearly so: not a Poisson count's noise."""
    if mean / surge_factor < recent < mean * surge_factor:
        return False
    return _clearly_apart(recent, mean, rates)


def _clearly_apart(recent: float, mean: float, rates: Sequence[RateReading]) -> bool:
    """The recent median and the window's mean differ by more than SHIFT_CONFIDENCE standard
    errors of a Poisson count over the recent reads."""
    span = rates[-1].at - rates[-RECENT_READS - 1].at
    if span <= 0:
        return False
    standard_error = math.sqrt(max(recent, mean) / span)
    return abs(recent - mean) > SHIFT_CONFIDENCE * standard_error


TREND_CONFIDENCE = 3.0
"""Of the rate's slope, only what stands this many standard errors above zero is carried
forward: arrivals are noisy read by read, and a trend carried forward from noise costs a scale
change each time."""


def _clear_rise(rates: Sequence[RateReading]) -> float:
    """The least-squares slope of the rate over the window, in jobs/s per second, less
    TREND_CONFIDENCE standard errors; 0 where that leaves nothing. It grows with the evidence,
    so the size does not jump when a rise turns into a trend."""
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
    standard_error = math.sqrt(residuals / (count - 2) / spread)
    return max(0.0, slope - TREND_CONFIDENCE * standard_error)


def _middle(rates: Sequence[RateReading]) -> float:
    return (rates[0].at + rates[-1].at) / 2


def _window_middle(memory: QueueMemory) -> float:
    """How long ago the middle of the window was: where its mean rate stands."""
    return memory.arrival_rates[-1].at - _middle(memory.arrival_rates)


NOISE_CONFIDENCE = 3.0
"""The slots sized for hold the arrivals' noise up to this many standard deviations."""


def noise_utilization(
    arrival_rate: float, job_seconds: float, wait_seconds: float, dispersion: float = 1.0
) -> float:
    """The share of the slots the arrivals may keep busy on average, where only their noise
    must fit in the rest: 1 / (1 + z / sqrt(rate x horizon / dispersion)), z =
    NOISE_CONFIDENCE, the horizon the longer of the wait allowed and the job time; 0 where the
    rate is not above 0.

    Jobs shorter than the wait allowed: what arrives within the wait is worked off within it
    where the slots hold its mean work plus z standard deviations of its count, a Poisson count
    of rate x wait, its variance that times `dispersion` where the arrivals vary more than
    Poisson's (QueueMemory.dispersion). Jobs longer than that: the jobs running at once are
    such a count over the job time. Either way the idle slots needed grow as the count's square
    root, not as the count: square-root staffing (Halfin and Whitt), many arrivals within the
    wait being steadier than few. Poisson arrivals of 20 jobs/s that may wait 15 s: 85 %;
    200 jobs/s: 95 %; 2 jobs/s: 65 %."""
    if arrival_rate <= 0:
        return 0.0
    horizon = max(wait_seconds, job_seconds)
    return 1 / (1 + NOISE_CONFIDENCE / math.sqrt(arrival_rate * horizon / dispersion))


def rising_step(replicas_per_second: float, change_seconds: float) -> float:
    """The step up that costs least on a load that rises by `replicas_per_second`, where a scale
    change is worth `change_seconds` replica-seconds: sqrt(2 x change x rise), the economic
    order quantity. A step of Δ replicas lasts Δ / rise seconds, and its replicas idle Δ² / 2 /
    rise replica-seconds while the load grows into them; steps of that size cost as much in
    idle replicas as in changes; and the surplus rule does not take such a step back: the
    replicas it frees, times how long they stay free, reach about half the change's worth at
    most while the load grows into them. 0 where a change is worth nothing or the load does
    not rise."""
    return math.sqrt(2 * change_seconds * max(replicas_per_second, 0.0))
