"""The default worker policy replayed through the simulator on load shapes: what it does, as a
change count and where the changes fall, not as figures to match."""

from __future__ import annotations

from autoscaler.config import Settings
from autoscaler.simulation.run import Timeline, replay
from autoscaler.simulation.scenario import OURS, _reactive_scalers, scenario
from autoscaler.simulation.service import ServiceModel
from autoscaler.simulation.trace import Trace
from autoscaler.simulation.workload import Workload

CAPACITY, STARTUP, SLO = 5.0, 20, 10.0
"""Jobs of K / C = 2 s on 10 slots a worker; 20 s to start."""


def ours(trace: Trace) -> Timeline:
    chosen = scenario(Settings(), ServiceModel(10, STARTUP), CAPACITY, SLO, 1, 50)
    workload = Workload.of(trace, chosen.default_job_seconds)
    scaler = _reactive_scalers(chosen)[OURS]
    return replay(workload, scaler, chosen.model, SLO, 1).timeline


def changes(timeline: Timeline, start: int, end: int) -> list[tuple[int, int, int]]:
    """(second, before, after) of each change of the count asked for within [start, end)."""
    asked = timeline.replicas
    return [(s, asked[s - 1], asked[s]) for s in range(start, end) if asked[s] != asked[s - 1]]


def test_a_surge_is_met_and_its_workers_go_in_one_step_soon_after() -> None:
    surge_from, surge_until = 600, 780
    arrivals = (5,) * surge_from + (40,) * (surge_until - surge_from) + (5,) * 600
    timeline = ours(Trace("surge", arrivals))
    during = timeline.replicas[surge_until - 1]
    after = changes(timeline, surge_until, surge_until + 300)
    assert during >= 40 * 2 / 10, "the surge's 80 slots are there while it lasts"
    assert len(after) == 1, after
    second, _, to = after[0]
    # 7 or 8 workers freed: the 450 replica-seconds of the surplus rule within a minute or so
    assert second - surge_until <= 90 and to < during / 3


def test_one_read_spike_moves_nothing() -> None:
    """A second of six times the rate: the read that holds it arrives at 3.5 times the mean,
    but the median of the last reads does not move, and the spare slots work it off."""
    arrivals = [10] * 900
    arrivals[600] = 60
    timeline = ours(Trace("spike", tuple(arrivals)))
    assert changes(timeline, 300, 900) == []


def test_steady_load_of_mixed_job_times_settles() -> None:
    """Ten jobs a second, those of every fifth second taking 12 s, the rest 1 s: the load in
    slots swings from second to second, the count does not."""
    job_seconds = tuple(12.0 if second % 5 == 0 else 1.0 for second in range(1800))
    timeline = ours(Trace("mixed", (10,) * 1800, job_seconds))
    assert len(changes(timeline, 600, 1800)) <= 2


def test_a_ramp_costs_fewer_changes_than_replicas_added() -> None:
    arrivals = tuple(2 + 38 * second // 1800 for second in range(1800))  # 2/s to 40/s
    timeline = ours(Trace("ramp", arrivals))
    ups = changes(timeline, 1, 1800)
    assert all(after > before for _, before, after in ups), "no change back down on a ramp"
    assert len(ups) < timeline.replicas[-1] - timeline.replicas[0]


def test_a_burst_that_ended_brings_none_of_its_workers_back() -> None:
    """3/s, 40/s for two minutes, 3/s again: the burst's workers go, and the minute's mean,
    which still holds the burst after it ended, asks for none of them again."""
    arrivals = tuple(40 if 600 <= second < 720 else 3 for second in range(1500))
    timeline = ours(Trace("on-off", arrivals))
    after = changes(timeline, 720, 1500)
    assert after and all(to < before for _, before, to in after), after


def test_a_steep_ramp_from_a_few_workers_is_climbed_in_few_steps() -> None:
    """2/s to 30/s in ten minutes, from 2 workers to 8: steps of several workers on the clear
    rise, not one at a time, and no job waits past the SLO for it."""
    arrivals = tuple(2 + 28 * (second % 600) // 600 for second in range(1800))
    timeline = ours(Trace("sawtooth", arrivals))
    ups = [change for change in changes(timeline, 700, 1200) if change[2] > change[1]]
    assert len(ups) <= 2, ups
    assert max(timeline.queue_wait_seconds[600:1200]) <= SLO
