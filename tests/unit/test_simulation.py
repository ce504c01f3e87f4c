"""The simulator's service model, scoring and oracle, on hand-computed traces."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autoscaler.policy.parameters import QueueSignal, ServicePolicy
from autoscaler.simulation.run import PolicyResult, simulate
from autoscaler.simulation.scalers import DaemonPolicy, Oracle
from autoscaler.simulation.service import ServiceModel, ServiceView


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


def run(arrivals, scaler, capacity=5.0, startup=0, slo=10.0, initial=1) -> PolicyResult:
    return simulate(arrivals, scaler, ServiceModel(capacity, startup), slo, initial)


@pytest.mark.parametrize(
    "arrivals, capacity, slo, expected",
    [
        # Enough capacity: everything is served in the second it arrives.
        ([5, 5, 5], 5, 10, PolicyResult(3, 0, 0, 0, 1)),
        # 6 jobs at 2/s: served at 0, 1, 2 s, two each; p95 of [0,0,1,1,2,2] is 2.
        # Ages at the ends of seconds 0 and 1 are 1 and 2: one second over an SLO of 1.
        ([6, 0, 0, 0], 2, 1, PolicyResult(4, 1, 2, 0, 1)),
        # 10 jobs at 1/s: job k waits k s; the queue is 1..9 s old at the ends of seconds
        # 0..8, so 6 seconds are over an SLO of 3 (9 - 3: one per second beyond it).
        ([10] + [0] * 9, 1, 3, PolicyResult(10, 6, 9, 0, 1)),
        # Still waiting at the end: 4 jobs queued at second 1 count the 1 s they waited.
        ([2, 6], 2, 10, PolicyResult(2, 0, 1, 0, 1)),
        # Half a job per second: a job is served every other second.
        ([1, 1, 0, 0], 0.5, 10, PolicyResult(4, 0, 2, 0, 1)),
    ],
    ids=["keeps-up", "queue-builds", "slo-count", "unserved-at-end", "fractional-capacity"],
)
def test_one_replica(arrivals, capacity, slo, expected):
    assert run(arrivals, Scripted({}), capacity=capacity, slo=slo) == expected


def counts(scaler: Scripted) -> list[tuple[int, int]]:
    return [(view.requested, view.ready) for view in scaler.seen]


def test_a_new_replica_takes_work_after_the_startup_delay():
    scaler = Scripted({0: 2})
    run([0] * 5, scaler, startup=3)
    assert counts(scaler) == [(1, 1), (2, 1), (2, 1), (2, 2), (2, 2)]


def test_a_removed_replica_stops_at_once_newest_first():
    # Two replicas asked for at second 0 are ready from second 5; the one removed at second 2
    # is one of them, so the ready count does not drop, and 2 are ready at second 5.
    scaler = Scripted({0: 3, 2: 2})
    run([0] * 6, scaler, startup=5)
    assert counts(scaler) == [(1, 1), (3, 1), (3, 1), (2, 1), (2, 1), (2, 2)]


def test_removing_a_ready_replica_takes_its_capacity_at_once():
    # With 2 replicas all 10 jobs would be served at once; with 1, 5 are left waiting.
    scaler = Scripted({1: 1})
    assert run([0, 10], scaler, initial=2) == PolicyResult(3, 0, 1, 1, 2)


def test_the_view_counts_backlog_work_in_service_and_arrivals():
    scaler = Scripted({})
    run([7, 0, 0], scaler, capacity=3)
    assert [(v.backlog, v.in_service, v.arrived) for v in scaler.seen] == [
        (0, 0, 0),
        (4, 3, 7),
        (1, 3, 7),
    ]


def test_the_scaler_acts_once_per_interval():
    scaler = Scripted({}, interval_seconds=10)
    run([0] * 25, scaler)
    assert [v.second for v in scaler.seen] == [0, 10, 20]


def test_scale_changes_and_the_peak_are_counted():
    result = run([0] * 6, Scripted({1: 3, 2: 3, 3: 5, 4: 2}))
    assert (result.scale_changes, result.max_replicas, result.replica_seconds) == (3, 5, 16)


@pytest.mark.parametrize(
    "arrivals, expected",
    [
        # 10 jobs a second at 5 per replica: exactly 2 replicas, set once.
        ([10] * 60, PolicyResult(120, 0, 0, 1, 2)),
        # Each second gets what its own arrivals need, never less than min 1.
        ([0, 12, 3, 0], PolicyResult(1 + 3 + 1 + 1, 0, 0, 2, 3)),
        # Beyond max 4 (20 jobs/s) a backlog is carried and worked off with max replicas.
        ([30, 0, 0], PolicyResult(4 + 2 + 1, 0, 1, 3, 4)),
    ],
    ids=["constant-load", "follows-each-second", "capped-at-max"],
)
def test_oracle(arrivals, expected):
    oracle = Oracle(arrivals, capacity=5, min_replicas=1, max_replicas=4)
    assert run(arrivals, oracle) == expected


def test_daemon_policy_feeds_decide_what_the_daemon_would_read():
    policy = ServicePolicy(
        min_replicas=1,
        max_replicas=8,
        signals=(QueueSignal(jobs_per_second_per_replica=5),),
    )
    ours = DaemonPolicy("worker", policy, policy.signals[0], interval_seconds=10)
    first = ours.replicas(ServiceView(0, requested=1, ready=1, backlog=0, in_service=0, arrived=0))
    # 100 jobs arrived in 10 s; the replica finished 50, works on 5 and 45 wait: 10 jobs/s
    # arriving plus 45 to drain within 60 s, at 5 jobs/s per replica, needs 2.15 replicas.
    second = ours.replicas(
        ServiceView(10, requested=1, ready=1, backlog=45, in_service=5, arrived=100)
    )
    assert (first, second) == (1, 3)
