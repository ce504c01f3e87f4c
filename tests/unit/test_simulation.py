"""The simulator's job model, scoring, oracle and lower bound, on hand-computed traces."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autoscaler.config import ServicePolicy, Settings
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.simulation.run import PolicyResult, lower_bound_replica_seconds, simulate
from autoscaler.simulation.scalers import DaemonPolicy, Oracle
from autoscaler.simulation.scenario import compare, scenario
from autoscaler.simulation.service import ServiceModel, ServiceView
from autoscaler.simulation.trace import Trace
from autoscaler.simulation.workload import Workload


@dataclass
class Scripted:
    """Asks for the count the script gives for the second, else keeps the current one; keeps
    what it saw."""

    script: dict[int, int]
    interval_seconds: float = 1
    seen: list[ServiceView] = field(default_factory=list)

    def replicas(self, view: ServiceView) -> int:
        self.seen.append(view)
        return self.script.get(view.second, view.requested)


def jobs(arrivals: list[int], job_seconds: float | list[float] = 1.0) -> Workload:
    seconds = job_seconds if isinstance(job_seconds, list) else [job_seconds] * len(arrivals)
    return Workload.of(Trace("t", tuple(arrivals), tuple(seconds)), default_job_seconds=1)


def run(workload, scaler, slots=5, startup=0, slo=10.0, initial=1) -> PolicyResult:
    return simulate(workload, scaler, ServiceModel(slots, startup), slo, initial)


@pytest.mark.parametrize(
    "workload, slots, slo, expected",
    [
        # Enough slots: every job starts in the second it arrives.
        (jobs([5, 5, 5]), 5, 10, PolicyResult(3, 0, 0, 0, 1)),
        # 6 one-second jobs in 2 slots start at 0, 1, 2 s, two each: p95 of [0,0,1,1,2,2] is
        # 2. The oldest waited 1 and 2 s at the ends of seconds 0 and 1: one over an SLO of 1.
        (jobs([6, 0, 0, 0]), 2, 1, PolicyResult(4, 1, 2, 0, 1)),
        # 10 jobs in 1 slot: job k waits k s; the queue is 1..9 s old at the ends of seconds
        # 0..8, so 6 seconds are over an SLO of 3 (9 - 3: one per second beyond it).
        (jobs([10] + [0] * 9), 1, 3, PolicyResult(10, 6, 9, 0, 1)),
        # The trace ends with 4 jobs waiting: the replica runs on until they are done.
        (jobs([2, 6]), 2, 10, PolicyResult(4, 0, 2, 0, 1)),
        # A 2 s job holds its slot for 2 s: the second job waits 1 s, the last ends at 4 s.
        (jobs([1, 1, 0, 0], 2.0), 1, 10, PolicyResult(4, 0, 1, 0, 1)),
        # Jobs of 0.25 s follow each other in one slot: 4 in the first second, the 5th waits.
        (jobs([5], 0.25), 1, 10, PolicyResult(2, 0, 1, 0, 1)),
    ],
    ids=[
        "keeps-up",
        "queue-builds",
        "slo-count",
        "drained-after-the-trace",
        "jobs-longer-than-a-second",
        "jobs-shorter-than-a-second",
    ],
)
def test_one_replica(workload, slots, slo, expected):
    assert run(workload, Scripted({}), slots=slots, slo=slo) == expected


def test_each_second_has_its_own_service_time():
    # One slot: a 3 s job from 0 to 3, then the 0.5 s job that arrived at 1 waits 2 s.
    assert run(jobs([1, 1], [3.0, 0.5]), Scripted({}), slots=1) == PolicyResult(4, 0, 2, 0, 1)


def counts(scaler: Scripted) -> list[tuple[int, int]]:
    return [(view.requested, view.ready) for view in scaler.seen]


def test_a_starting_replica_costs_but_takes_no_job_and_is_not_ready():
    # 2 jobs of 10 s, 1 slot per replica; the replica asked for at 0 takes the 2nd job at 3.
    scaler = Scripted({0: 2})
    result = run(jobs([2, 0, 0, 0, 0], 10.0), scaler, slots=1, startup=3)
    assert counts(scaler)[:5] == [(1, 1), (2, 1), (2, 1), (2, 2), (2, 2)]
    assert (result.p95_wait_seconds, result.replica_seconds) == (3, 2 * 13)


def test_a_starting_replica_is_removed_first_and_at_once():
    # Two replicas asked for at second 0 are ready from second 5; the one removed at second 2
    # is one of them, so the ready count does not drop, and 2 are ready at second 5.
    scaler = Scripted({0: 3, 2: 2})
    run(jobs([0] * 6), scaler, startup=5)
    assert counts(scaler) == [(1, 1), (3, 1), (3, 1), (2, 1), (2, 1), (2, 2)]


def test_removing_an_idle_ready_replica_takes_its_slots_at_once():
    # With 2 replicas all 10 jobs would start at once; with 1, 5 wait for the next second.
    scaler = Scripted({1: 1})
    assert run(jobs([0, 10]), scaler, initial=2) == PolicyResult(4, 0, 1, 1, 2)


def test_a_removed_busy_replica_finishes_its_job_while_it_costs_but_takes_no_new_one():
    # One slot per replica, two replicas. A 5 s job from 0 to 5 and a 2 s job from 1 to 3.
    # At 2 one replica goes: the one finishing soonest, the 2 s job's. It is paid until 3;
    # its slot takes no new job, so the 1 s job that arrives at 2 waits for the other, at 5.
    scaler = Scripted({2: 1})
    result = run(jobs([1, 1, 1], [5.0, 2.0, 1.0]), scaler, slots=1, initial=2)
    assert result == PolicyResult(2 + 2 + 2 + 1 + 1 + 1, 0, 3, 1, 2)
    finished = [(view.completed, view.completed_job_seconds) for view in scaler.seen]
    assert finished == [(0, 0), (0, 0), (0, 0), (1, 2.0), (1, 2.0), (2, 7.0)]


def view(second, waiting=0, active=0, arrived=0, completed=0, job_seconds=0.0) -> ServiceView:
    """The view of one ready replica, all that was asked for."""
    return ServiceView(second, 1, 1, waiting, active, arrived, completed, job_seconds)


def test_the_view_shows_what_the_queue_holds_and_what_finished():
    # 3 jobs of 1.2 s in 2 slots: two from 0 to 1.2, the third from 1.2 to 2.4. Active is the
    # mean over the second before: 2 slots all of second 0; 2 x 0.2 + 1 x 0.8 of second 1.
    scaler = Scripted({})
    run(jobs([3, 0, 0, 0], 1.2), scaler, slots=2)
    assert scaler.seen == [
        view(0),
        view(1, waiting=1, active=2, arrived=3),
        view(2, active=1, arrived=3, completed=2, job_seconds=2.4),
        view(3, arrived=3, completed=3, job_seconds=3.6),
    ]


def test_the_scaler_acts_once_per_interval():
    scaler = Scripted({}, interval_seconds=10)
    run(jobs([0] * 25), scaler)
    assert [v.second for v in scaler.seen] == [0, 10, 20]


def test_scale_changes_and_the_peak_are_counted():
    result = run(jobs([0] * 6), Scripted({1: 3, 2: 3, 3: 5, 4: 2}))
    assert (result.scale_changes, result.max_replicas, result.replica_seconds) == (3, 5, 16)


@pytest.mark.parametrize(
    "workload, expected",
    [
        # 10 one-second jobs a second in 5 slots per replica: exactly 2 replicas, set once.
        (jobs([10] * 60), PolicyResult(120, 0, 0, 1, 2)),
        # Each second gets what its own jobs need, never less than min 1.
        (jobs([0, 12, 3, 0]), PolicyResult(1 + 3 + 1 + 1, 0, 0, 2, 3)),
        # Beyond max 4 (20 slots) the rest waits and takes the slots of the next second.
        (jobs([30, 0, 0]), PolicyResult(4 + 2 + 1, 0, 1, 3, 4)),
        # 2 s jobs hold slots into the next second: 10, 20, 10 and 0 slots.
        (jobs([10, 10, 0, 0], 2.0), PolicyResult(2 + 4 + 2 + 1, 0, 0, 4, 4)),
        # 0.5 s jobs share slots: 20 of them need 10 slots for a second.
        (jobs([20], 0.5), PolicyResult(2, 0, 0, 1, 2)),
    ],
    ids=["constant-load", "follows-each-second", "capped-at-max", "long-jobs", "short-jobs"],
)
def test_oracle(workload, expected):
    oracle = Oracle(workload, concurrency=5, min_replicas=1, max_replicas=4)
    assert run(workload, oracle) == expected


def test_lower_bound_is_the_slot_seconds_over_k_rounded_up():
    # 3 x 1.5 s + 2 x 0.25 s = 5 slot-seconds; over 2 slots a replica: 2.5, so 3.
    assert lower_bound_replica_seconds(jobs([3, 2], [1.5, 0.25]), concurrency=2) == 3


def _burst(second: int) -> int:
    return 60 if 100 <= second < 160 else 2


@pytest.mark.parametrize(
    "trace",
    [
        Trace("burst", tuple(_burst(s) for s in range(400))),
        Trace("ramp", tuple(s // 10 for s in range(600))),
        Trace("job-mix", (10,) * 600, tuple(6.0 if s < 300 else 0.3 for s in range(600))),
        Trace("short-and-sparse", tuple(s % 7 for s in range(300)), (0.2,) * 300),
        Trace("flood-beyond-max", (300,) * 120 + (0,) * 60),
    ],
    ids=lambda trace: trace.name,
)
@pytest.mark.parametrize(
    "capacity, startup", [(5, 20), (2, 60), (20, 10)], ids=["5-20", "2-60", "20-10"]
)
def test_no_policy_pays_less_than_the_lower_bound(trace, capacity, startup):
    chosen = scenario(Settings(), ServiceModel(10, startup), capacity, 10, 1, 20)
    comparison = compare(trace, chosen)
    costs = {name: result.replica_seconds for name, result in comparison.policies.items()}
    assert min(costs.values()) >= comparison.lower_bound_replica_seconds, costs


def test_daemon_policy_feeds_decide_what_the_daemon_would_read():
    policy = ServicePolicy(
        min_replicas=1,
        max_replicas=8,
        signals=(QueueSignal(jobs_per_second_per_replica=5),),
    )
    ours = DaemonPolicy("worker", policy, policy.signals[0], interval_seconds=10, concurrency=10)
    first = ours.replicas(view(0))
    # 100 jobs arrived in 10 s, 50 finished (of 1 s each), 5 are active and 45 wait: 10 jobs/s
    # of 1 s hold 10 slots, 11.1 at 90 % of them, and the 45 waiting are worked off within the
    # 60 s drain time by what that leaves: 2 workers of 10 slots.
    read = view(10, waiting=45, active=5, arrived=100, completed=50, job_seconds=50.0)
    assert (first, ours.replicas(read)) == (1, 2)
