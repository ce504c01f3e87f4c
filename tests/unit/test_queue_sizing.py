"""What the queue signal learns from its reads, and the rates and slots it sizes for."""

from __future__ import annotations

import random

import pytest

from autoscaler.signals.bullmq_reads import QueueLoad
from autoscaler.signals.queue_sizing import (
    HELD_READS,
    JobTimeReading,
    LongestJobTime,
    QueueMemory,
    RateReading,
    SlotReading,
    Window,
    Workers,
    learn,
    noise_utilization,
    slots_needed,
)

NOW = 1000.0
WINDOW = Window(seconds=60, initial_job_seconds=5.0)


def load(backlog=0, active=0, arrivals=None, finished=None, job_seconds=None) -> QueueLoad:
    return QueueLoad(backlog, active, arrivals, finished, job_seconds)


def rates(*pairs: tuple[float, float]) -> tuple[RateReading, ...]:
    """(seconds ago, jobs/s) -> readings, oldest first."""
    return tuple(RateReading(NOW - age, rate) for age, rate in pairs)


JOB_TIMES = {
    "first read, nothing finished: the configured start": (None, load(0, 0, 3.0), 5.0),
    "the mean of the jobs that finished": (None, load(0, 2, 4.0, 4.0, 0.5), 0.5),
    "not the slots held: a batch of long jobs running tells little of the mix": (
        None, load(0, 20, 4.0, 4.0, 0.5), 0.5,
    ),
    "weighted by how many finished, within the last minute": (
        QueueMemory(2.0, rates((10, 1.0)), (JobTimeReading(NOW - 50, 30, 1.0),)),
        load(0, 1, 10.0, 10.0, 2.0), 1.77,  # (30 jobs x 1 s + 10/s x 10 s x 2 s) / 130 jobs
    ),
    "older job times than a minute are forgotten": (
        QueueMemory(8.0, rates((30, 4.0)), (JobTimeReading(NOW - 61, 40, 8.0),)),
        load(0, 4, 4.0, 4.0, 1.0), 1.0,
    ),
    "nothing finished since: the job time is kept": (
        QueueMemory(3.0, rates((40, 2.0))), load(0, 0, 2.0), 3.0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("before, read, expected", JOB_TIMES.values(), ids=JOB_TIMES.keys())
def test_job_time(before, read, expected) -> None:
    assert learn(read, before, WINDOW, NOW).job_seconds == pytest.approx(expected, rel=0.05)


def test_each_read_weighs_as_many_jobs_as_it_timed() -> None:
    """Not as many as the completion rate tells: that follows the slots held, and runs high
    in the very reads where a batch of long jobs finishes."""
    before = QueueMemory(1.0, rates((2, 10.0)), (JobTimeReading(NOW - 2, 30, 1.0),))
    read = QueueLoad(0, 10, 10.0, 40.0, 12.0, timed_jobs=10)
    assert learn(read, before, WINDOW, NOW).job_seconds == pytest.approx((30 + 120) / 40)


def held(*reads: tuple[float, int, float, int, int | None]) -> QueueMemory:
    """(seconds ago, active, finished/s, backlog, workers) -> a memory of jobs of 1 s."""
    slots = tuple(SlotReading(NOW - age, a, f, b, w) for age, a, f, b, w in reads)
    return QueueMemory(1.0, rates((2, 4.0)), slots=slots)


HELD = {
    "jobs waiting at every read, the same workers: slots held over jobs finished": (
        held((6, 20, 4.0, 5, 2), (4, 20, 4.0, 9, 2)), load(12, 20, 4.0, 4.0), 5.0,
    ),
    "a read without jobs waiting: the slots were not all busy": (
        held((6, 20, 4.0, 0, 2), (4, 20, 4.0, 9, 2)), load(12, 20, 4.0, 4.0), None,
    ),
    "a worker came: its slots were just added": (
        held((6, 10, 4.0, 5, 1), (4, 20, 4.0, 9, 2)), load(12, 20, 4.0, 4.0), None,
    ),
    "too few reads to tell": (held((4, 20, 4.0, 9, 2)), load(12, 20, 4.0, 4.0), None),
    "older reads than the stretch are forgotten": (
        held((21, 20, 0.0, 5, 2), (4, 20, 4.0, 9, 2), (2, 20, 4.0, 9, 2)),
        load(12, 20, 4.0, 4.0), 5.0,
    ),
}  # fmt: skip


@pytest.mark.parametrize("before, read, expected", HELD.values(), ids=HELD.keys())
def test_slots_held_while_jobs_wait(before, read, expected) -> None:
    read = QueueLoad(read.backlog, read.active, read.arrival_rate, read.completion_rate, workers=2)
    learned = learn(read, before, WINDOW, NOW)
    assert learned.held_run == (() if expected is None else (pytest.approx(expected),))


def told(before: tuple[float, ...], stretch: float | None) -> QueueMemory:
    """The memory after a read whose stretch tells `stretch` (None: not steady), after reads
    whose stretches told `before`."""
    memory = held((6, 20, 4.0, 5, 2), (4, 20, 4.0, 9, 2))
    memory = QueueMemory(1.0, memory.arrival_rates, slots=memory.slots, held_run=before)
    backlog = 0 if stretch is None else 12
    finishing = 4.0 if stretch is None else 20 / stretch
    read = QueueLoad(backlog, 20, 4.0, finishing, workers=2)
    return learn(read, memory, WINDOW, NOW)


def test_slots_held_tell_the_job_time_at_the_third_read_in_a_row() -> None:
    assert told((), 5.0).held_job_seconds is None
    assert told((5.0,), 5.0).held_job_seconds is None
    assert told((5.0, 5.0), 5.0).held_job_seconds == pytest.approx(5.0)


def test_slots_held_tell_the_median_of_the_last_three_reads() -> None:
    """Right after a batch of long jobs takes the slots, few finish: one read's spike moves
    nothing."""
    assert told((4.0, 4.0), 5.0).held_job_seconds == pytest.approx(4.0)
    learned = told((7.0, 9.0, 3.0), 5.0)
    assert learned.held_run == pytest.approx((9.0, 3.0, 5.0))
    assert learned.held_job_seconds == pytest.approx(5.0)


def test_a_read_without_a_steady_stretch_starts_the_count_again() -> None:
    learned = told((5.0, 5.0), None)
    assert learned.held_run == ()
    assert learned.held_job_seconds is None


def job_seconds_sized(held_seconds: float, history=None) -> float:
    history = history or tuple((age, 10.0) for age in range(60, 0, -2))
    memory = QueueMemory(2.0, rates(*history), held_run=(held_seconds,) * HELD_READS)
    return slots_needed(load(5), memory, workers(3), 15.0, 2.0).job_seconds


def test_slots_held_tell_longer_jobs_before_they_finish() -> None:
    assert job_seconds_sized(held_seconds=5.0) == 5.0


def test_slots_held_tell_at_most_three_times_the_finished_jobs() -> None:
    assert job_seconds_sized(held_seconds=30.0) == 6.0


def test_slots_held_never_shorten_the_finished_jobs() -> None:
    assert job_seconds_sized(held_seconds=1.0) == 2.0


def sized_after_longer(job_seconds: float, longest: float) -> tuple[float, str]:
    """The job time sized for, and where it came from, with `longest` learned a minute ago."""
    history = tuple((age, 10.0) for age in range(60, 0, -2))
    memory = QueueMemory(job_seconds, rates(*history), longest=LongestJobTime(NOW - 60, longest))
    demand = slots_needed(load(5), memory, workers(3), 15.0, 2.0)
    return demand.job_seconds, demand.job_taken


def test_a_wavering_job_mix_is_sized_for_its_longest_job_time_lately() -> None:
    """1 s jobs with 12 s ones one second in five: the minute's mean wavers between 2.4 and
    4.4 s; a worker given up at each short stretch is asked for again at the next long one."""
    assert sized_after_longer(2.4, 4.4) == (4.4, "the longest lately; 2.4s now")


def test_jobs_that_clearly_got_shorter_are_sized_as_they_are() -> None:
    assert sized_after_longer(1.1, 4.4) == (1.1, "")


def test_jobs_as_long_as_ever_are_sized_as_they_are() -> None:
    assert sized_after_longer(4.4, 4.4) == (4.4, "")


def test_in_a_surge_jobs_wait_for_the_surge_not_for_longer_jobs() -> None:
    surge = (*((age, 10.0) for age in range(60, 6, -2)), (6, 40.0), (4, 40.0), (2, 40.0))
    assert job_seconds_sized(held_seconds=5.0, history=surge) == 2.0


def sized_while_waiting(
    job_seconds: float,
    reads: tuple[tuple[float, int, float, int], ...],
    finished: tuple[tuple[float, int, float], ...] = (),
    longest: float | None = None,
) -> tuple[float, str]:
    """The job time sized for, and where it came from, after `reads` of (seconds ago, active,
    finished/s, backlog), with `finished`'s jobs timed: (seconds ago, jobs, mean seconds)."""
    history = tuple((age, 8.0) for age in range(60, -1, -2))
    slots = tuple(SlotReading(NOW - age, a, f, b, 1) for age, a, f, b in reads)
    times = tuple(JobTimeReading(NOW - age, jobs, mean) for age, jobs, mean in finished)
    lately = None if longest is None else LongestJobTime(NOW - 60, longest)
    memory = QueueMemory(job_seconds, rates(*history), times, slots, longest=lately)
    demand = slots_needed(load(5), memory, workers(1), 15.0, 2.0)
    return demand.job_seconds, demand.job_taken


STALLED_SINCE_4S = "no job finished in 4s while jobs waited"
STALLED = {
    "none finished since a read, jobs waiting at every read: they have run that long": (
        2.0, ((4, 10, 3.0, 5), (2, 10, 0.0, 21), (0, 10, 0.0, 30)), (4.0, STALLED_SINCE_4S),
    ),
    "at most three times the jobs that finished, as the slots held": (
        0.5, ((4, 10, 3.0, 5), (2, 10, 0.0, 21), (0, 10, 0.0, 30)), (1.5, STALLED_SINCE_4S),
    ),
    "none finished all along: since the oldest read": (
        2.0, ((4, 10, 0.0, 5), (2, 10, 0.0, 21), (0, 10, 0.0, 30)), (4.0, STALLED_SINCE_4S),
    ),
    "jobs finished at the newest read: no tell": (
        2.0, ((4, 10, 0.0, 5), (2, 10, 0.0, 21), (0, 10, 3.0, 30)), (2.0, ""),
    ),
    "a read without jobs waiting: the slots were not all busy": (
        2.0, ((4, 10, 3.0, 5), (2, 10, 0.0, 0), (0, 10, 0.0, 30)), (2.0, ""),
    ),
    "no job running (no worker takes them): nothing tells of their time": (
        2.0, ((4, 10, 3.0, 5), (2, 0, 0.0, 21), (0, 0, 0.0, 30)), (2.0, ""),
    ),
}  # fmt: skip


@pytest.mark.parametrize("job_seconds, reads, expected", STALLED.values(), ids=STALLED.keys())
def test_no_job_finishing_while_jobs_wait_tells_longer_jobs(job_seconds, reads, expected) -> None:
    seconds, taken = sized_while_waiting(job_seconds, reads)
    assert (seconds, taken) == (pytest.approx(expected[0]), expected[1])


WAITING = ((2, 10, 3.0, 5), (0, 10, 2.0, 22))
"""Two reads with jobs waiting."""
LONGER = "jobs finishing while jobs wait; 0.5s in the minute"
FINISHING = {
    "four times as long as sized for: the mix changed to longer jobs": (
        0.5, WAITING, ((0, 4, 5.0),), None, (5.0, LONGER),
    ),
    "over the last two reads, weighted by the jobs timed": (
        0.5, WAITING, ((2, 4, 1.0), (0, 4, 5.0)), None, (3.0, LONGER),
    ),
    "not the jobs that finished before the slots were all busy": (
        0.5, WAITING, ((4, 40, 0.5), (0, 4, 5.0)), None, (5.0, LONGER),
    ),
    "less than four times as long: a batch of long jobs in the mix": (
        2.0, WAITING, ((0, 4, 5.0),), None, (2.0, ""),
    ),
    "than the longest lately too: the bimodal mix's 12 s jobs": (
        2.4, WAITING, ((0, 4, 12.0),), 4.4, (4.4, "the longest lately; 2.4s now"),
    ),
    "one read with jobs waiting: its jobs may be one batch's": (
        0.5, ((2, 10, 3.0, 0), (0, 10, 2.0, 22)), ((0, 4, 5.0),), None, (0.5, ""),
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "job_seconds, reads, finished, longest, expected", FINISHING.values(), ids=FINISHING.keys()
)
def test_longer_jobs_finishing_while_jobs_wait(
    job_seconds, reads, finished, longest, expected
) -> None:
    seconds, taken = sized_while_waiting(job_seconds, reads, finished, longest)
    assert (seconds, taken) == (pytest.approx(expected[0]), expected[1])


LONGEST = {
    "the first job time measured starts it": (None, load(0, 1, 1.0, 1.0, 2.0), (NOW, 2.0)),
    "not the configured start: it was never measured": (None, load(0, 0, 1.0), None),
    "a longer job time replaces it": (
        QueueMemory(2.0, longest=LongestJobTime(NOW - 100, 2.0)), load(0, 8, 1.0, 1.0, 8.0),
        (NOW, 8.0),
    ),
    "a shorter one keeps it": (
        QueueMemory(8.0, longest=LongestJobTime(NOW - 100, 8.0)), load(0, 1, 1.0, 1.0, 1.0),
        (NOW - 100, 8.0),
    ),
    "kept 300 s: then the job time now starts it again": (
        QueueMemory(8.0, longest=LongestJobTime(NOW - 300, 8.0)), load(0, 1, 1.0, 1.0, 1.0),
        (NOW, 1.0),
    ),
}  # fmt: skip


@pytest.mark.parametrize("before, read, expected", LONGEST.values(), ids=LONGEST.keys())
def test_the_longest_job_time_lately(before, read, expected) -> None:
    longest = learn(read, before, WINDOW, NOW).longest
    assert (longest and (longest.at, longest.seconds)) == expected


SHORTER_JOBS = {
    "4 times shorter than the longest lately: the job mix changed": (
        QueueMemory(4.0, longest=LongestJobTime(NOW - 60, 16.0)), "jobs of 4.0s, down from 16.0s",
    ),
    "less than 4 times: a mix of long and short jobs wavers that much": (
        QueueMemory(4.1, longest=LongestJobTime(NOW - 60, 16.0)), "",
    ),
    "no job time measured yet": (QueueMemory(0.5), ""),
}  # fmt: skip


@pytest.mark.parametrize("memory, expected", SHORTER_JOBS.values(), ids=SHORTER_JOBS.keys())
def test_shorter_jobs(memory, expected) -> None:
    assert memory.shorter_jobs() == expected


def test_a_switch_to_short_jobs_is_told_once_they_make_the_minute() -> None:
    """16 s jobs, then 0.5 s ones at the same rate: the job time learned falls as the short
    jobs finish, and tells the change once it is a quarter of the longest."""
    memory, told = None, []
    for second in range(0, 200, 2):
        job_seconds = 16.0 if second < 60 else 0.5
        memory = learn(load(0, 1, 0.25, 0.25, job_seconds), memory, WINDOW, NOW + second)
        told.append(bool(memory.shorter_jobs()))
    first = told.index(True)
    assert 60 < first * 2 <= 120 and all(told[first:])


RATES = {
    "the first rate starts the window": (None, 7.0, [7.0]),
    "older than the window: forgotten": (QueueMemory(1.0, rates((60, 1.0), (30, 2.0))), 3.0,
                                         [2.0, 3.0]),
    "no rate this read: nothing added": (QueueMemory(1.0, rates((30, 2.0))), None, [2.0]),
}  # fmt: skip


@pytest.mark.parametrize("before, rate, expected", RATES.values(), ids=RATES.keys())
def test_arrival_rates_within_the_window(before, rate, expected) -> None:
    learned = learn(load(0, 0, rate), before, WINDOW, NOW)
    assert [r.rate for r in learned.arrival_rates] == expected


BURST = tuple((age, 40.0) for age in range(60, 4, -2))

ENDED = {
    "a burst clearly over, no job waiting: the window reads the rate left": (
        QueueMemory(2.0, rates(*BURST, (4, 3.0), (2, 3.0))), load(0, 6, 3.0), 3.0,
    ),
    "jobs still waiting: the burst is queued, not over": (
        QueueMemory(2.0, rates(*BURST, (4, 3.0), (2, 3.0))), load(5, 6, 3.0), (27 * 40 + 9) / 30,
    ),
    "load that only swings, three times below its mean: the window as it is": (
        QueueMemory(2.0, rates(*((age, 30.0) for age in range(60, 4, -2)), (4, 10.0), (2, 10.0))),
        load(0, 6, 10.0), (27 * 30 + 30) / 30,
    ),
    "a low rate's noise, within a Poisson count's: the window as it is": (
        QueueMemory(2.0, rates(*((age, 2.0) for age in range(60, 4, -2)), (4, 0.5), (2, 0.5))),
        load(0, 1, 0.5), (27 * 2 + 1.5) / 30,
    ),
}  # fmt: skip


@pytest.mark.parametrize("before, read, mean", ENDED.values(), ids=ENDED.keys())
def test_a_burst_that_ended_leaves_the_window(before, read, mean) -> None:
    assert learn(read, before, WINDOW, NOW).mean_arrival_rate() == pytest.approx(mean)


def test_the_workers_of_a_burst_that_ended_are_not_sized_for_again() -> None:
    """Read by read after a burst, at 3/s with no job waiting: the rate sized for stays the
    rate left, instead of the minute's mean once that falls within twice the recent reads."""
    memory = QueueMemory(2.0, rates(*BURST[:-1], (6, 3.0), (4, 3.0), (2, 3.0)))
    sized_for = []
    for second in range(0, 60, 2):
        memory = learn(load(0, 6, 3.0), memory, WINDOW, NOW + second)
        sized_for.append(slots_needed(load(0, 6), memory, workers(3), 15.0, 2.0).arrival_rate)
    assert sized_for == pytest.approx([3.0] * len(sized_for))


def workers(ready: int, asked: int | None = None, startup=30.0, left=0.0) -> Workers:
    """Workers of 10 slots each."""
    asked = ready if asked is None else asked
    return Workers(ready * 10.0, asked * 10.0, startup, left)


def sized(history: tuple[RateReading, ...], backlog=0, ready=3, asked=None, left=0.0):
    memory = QueueMemory(2.0, history)
    return slots_needed(load(backlog), memory, workers(ready, asked, left=left), 15.0, 2.0)


STEADY = tuple((age, 10.0) for age in range(60, 0, -2))
RISING = tuple((age, 10.0 + (60 - age) * 0.2) for age in range(60, 0, -2))  # +0.2 jobs/s per s

SIZING = {
    "a steady rate: the window's mean": (sized(rates(*STEADY)), 10.0, "window mean"),
    "one read's spike, however high: still the mean": (
        sized(rates(*STEADY[:-1], (1, 60.0))), 11.67, "window mean",
    ),
    "a surge, the last reads' median twice the mean: sized for it at once": (
        sized(rates(*STEADY[:-2], (3, 40.0), (1, 40.0))), 40.0, "recent reads above the mean",
    ),
    "a surge's end, the mean twice the last reads' median: sized for that at once": (
        sized(rates(*((age, 40.0) for age in range(60, 4, -2)), (3, 5.0), (1, 5.0))), 5.0,
        "recent reads below the mean",
    ),
    "the median far from the mean but within the noise of so few reads: the mean": (
        sized(rates(*((age, 1.0) for age in range(60, 4, -2)), (3, 3.0), (1, 3.0))), 1.13,
        "window mean",
    ),
    "a clear rise: its trend carried to when a new worker is ready": (
        sized(rates(*RISING)), 10.0 + 59 * 0.2 + 30 * 0.2, "rising trend",
    ),
}  # fmt: skip


@pytest.mark.parametrize("demand, rate, taken", SIZING.values(), ids=SIZING.keys())
def test_the_rate_sized_for(demand, rate, taken) -> None:
    assert demand.rate_taken == taken
    assert demand.arrival_rate == pytest.approx(rate, rel=0.02)


def test_noise_is_not_a_trend() -> None:
    noise = random.Random(7)
    noisy = tuple((age, noise.gauss(20.0, 3.0)) for age in range(60, 0, -2))
    assert sized(rates(*noisy)).rate_taken == "window mean"


BACKLOG_THEN = {
    "workers enough: the backlog as it is": (sized(rates(*STEADY), backlog=40), 40.0),
    "too few ready: what it gains until a new worker is ready": (
        sized(rates(*STEADY), ready=0), 10.0 * 30,
    ),
    "a worker starting: it serves from when it is ready, 10 s from now": (
        sized(rates(*STEADY), ready=0, asked=1, left=10.0), 10.0 * 10 + (10.0 - 5.0) * 20,
    ),
}  # fmt: skip


@pytest.mark.parametrize("demand, expected", BACKLOG_THEN.values(), ids=BACKLOG_THEN.keys())
def test_the_backlog_by_the_time_a_new_worker_is_ready(demand, expected) -> None:
    assert demand.backlog_then == pytest.approx(expected)


def test_headroom_works_a_small_backlog_off_before_a_worker_is_added() -> None:
    demand = sized(rates(*STEADY), backlog=6)  # 20 slots serve; 6 x 2 s / 15 s = 0.8 more
    assert demand.workers(concurrency=10, utilization=0.8) == pytest.approx(20 / 0.8 / 10)


NOISE_UTILIZATION = {
    "20 jobs/s that may wait 15 s: 300 jobs, 3 x sqrt(300) slots' worth idle": (20.0, 0.5, 15.0, 0.852),
    "ten times the arrivals: steadier, fewer idle slots": (200.0, 0.5, 15.0, 0.948),
    "jobs longer than the wait: their noise over the job time": (2.0, 60.0, 15.0, 0.785),
    "few arrivals within the wait: mostly idle slots": (0.1, 1.0, 10.0, 0.25),
    "no arrivals": (0.0, 1.0, 15.0, 0.0),
}  # fmt: skip


def test_arrivals_that_vary_more_than_a_poisson_count_leave_more_slots_idle() -> None:
    """Four times a Poisson count's variance: as noisy as a quarter of the arrivals."""
    assert noise_utilization(20.0, 0.5, 15.0, dispersion=4.0) == pytest.approx(
        noise_utilization(5.0, 0.5, 15.0)
    )


def every_2s(*rates: float) -> QueueMemory:
    last = len(rates) - 1
    return QueueMemory(
        1.0, tuple(RateReading(NOW - 2 * (last - i), r) for i, r in enumerate(rates))
    )


DISPERSION = {
    "the same count at every read: no more than a Poisson count's": (every_2s(*[10.0] * 8), 1.0),
    # the first read only starts the count; then counts of 10 and 30 against 20 expected:
    # 10^2 / 20 = 5 a read, over 8 reads less one
    "5 and 15 jobs/s in turn: 5 x 8 / 7 times a Poisson count's": (
        every_2s(5.0, 15.0, 5.0, 15.0, 5.0, 15.0, 5.0, 15.0, 5.0), 5 * 8 / 7,
    ),
    "fewer than six reads: not known": (every_2s(5.0, 15.0, 5.0, 15.0, 5.0), None),
    "no arrivals: not known": (every_2s(*[0.0] * 8), None),
}  # fmt: skip


@pytest.mark.parametrize("memory, expected", DISPERSION.values(), ids=DISPERSION.keys())
def test_dispersion(memory, expected) -> None:
    assert memory.dispersion() == pytest.approx(expected)


@pytest.mark.parametrize(
    "rate, job_seconds, wait_seconds, expected",
    NOISE_UTILIZATION.values(),
    ids=NOISE_UTILIZATION.keys(),
)
def test_noise_utilization(rate, job_seconds, wait_seconds, expected) -> None:
    assert noise_utilization(rate, job_seconds, wait_seconds) == pytest.approx(expected, abs=1e-3)


def test_the_memory_survives_its_json_form() -> None:
    memory = learn(load(2, 3, 4.0, 4.0, 0.75), None, WINDOW, NOW)
    assert QueueMemory.from_memory(memory.to_memory()) == memory


def test_a_memory_saved_with_the_held_job_time_beside_its_reads_reads_it_from_them() -> None:
    """The daemon's state from before the held job time was told from its reads alone."""
    saved = learn(load(2, 3, 4.0, 4.0, 0.75), None, WINDOW, NOW).to_memory()
    memory = QueueMemory.from_memory(
        {**saved, "held_run": [9.0, 3.0, 5.0], "held_job_seconds": 4.0}
    )
    assert memory.held_job_seconds == 5.0
    assert "held_job_seconds" not in memory.to_memory()
