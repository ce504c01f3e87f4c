"""What the policy learns from a queue's reads, and how the queue proposal uses it."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from autoscaler.config import ServicePolicy
from autoscaler.policy import Observation, ServiceHistory, Unavailable, decide, remember
from autoscaler.policy.parameters import Behavior, DirectionRules, StepPolicy
from autoscaler.signals.bullmq_queue import QueueMemory, QueueSignal, RateReading
from autoscaler.signals.bullmq_reads import QueueLoad

QUEUE = QueueSignal(
    queue="q", jobs_per_second_per_replica=1, arrival_window_seconds=60, target_utilization=1
)
NOW = 1000.0


def load(backlog=0, completion_rate=None, arrival_rate=None, active=0) -> QueueLoad:
    return QueueLoad(backlog, active, arrival_rate=arrival_rate, completion_rate=completion_rate)


def known(per_replica=1.0, backlogged=False, ready=2, rates=()) -> QueueMemory:
    readings = tuple(RateReading(NOW - age, rate) for age, rate in rates)
    return QueueMemory(per_replica, backlogged, ready, readings)


def learn(before: QueueMemory | None, reading: QueueLoad | Unavailable, ready: int) -> QueueMemory:
    """What the signal remembers after this read."""
    observation = Observation(ready, ready, {QUEUE.name: reading})
    memory = None if before is None else before.to_memory()
    proposal = QUEUE.propose(observation, Behavior(), memory, NOW)
    assert proposal.memory is not None
    return QueueMemory.from_memory(proposal.memory)


@dataclass
class Read:
    before: QueueMemory | None
    reading: QueueLoad | Unavailable
    ready: int
    expected: float


THROUGHPUT = {
    "first read: the configured value": Read(None, load(0, 9.0, 9.0), 2, 1.0),
    "idle capacity: at least what the replicas did": Read(known(1.0), load(0, 8.0), 2, 4.0),
    "idle capacity never lowers the estimate": Read(known(5.0), load(0, 4.0), 2, 5.0),
    "busy at both reads: half way down to the measurement": Read(
        known(5.0, backlogged=True), load(10, 6.0), 2, 4.0
    ),
    "busy at both reads: half way up to the measurement": Read(
        known(2.0, backlogged=True), load(10, 12.0), 2, 4.0
    ),
    "busy only now: a lower bound, not a measurement": Read(known(5.0), load(10, 6.0), 2, 5.0),
    "fewer jobs waiting than ready replicas is not busy": Read(
        known(5.0, backlogged=True), load(1, 6.0), 2, 5.0
    ),
    "ready count changed in between: nothing learned": Read(known(1.0), load(0, 8.0), 3, 1.0),
    "no ready replica: nothing learned": Read(known(1.0, ready=0), load(0, 8.0), 0, 1.0),
    "no completion rate: nothing learned": Read(known(3.0), load(0, None), 2, 3.0),
    "unread: kept as it was": Read(known(3.0), Unavailable("redis down"), 2, 3.0),
}


@pytest.mark.parametrize("case", THROUGHPUT.values(), ids=THROUGHPUT.keys())
def test_per_replica_throughput(case: Read) -> None:
    learned = learn(case.before, case.reading, case.ready)
    assert learned.per_replica == pytest.approx(case.expected)


RATES = {
    "the first rate starts the window": (None, 7.0, [7.0]),
    "older than the window: forgotten": (known(rates=[(60, 1.0), (30, 2.0)]), 3.0, [2.0, 3.0]),
    "no rate this read: nothing added": (known(rates=[(30, 2.0)]), None, [2.0]),
}


@pytest.mark.parametrize("before, rate, expected", RATES.values(), ids=RATES.keys())
def test_arrival_rates_within_the_window(before, rate, expected) -> None:
    learned = learn(before, load(0, 1.0, rate), ready=2)
    assert [r.rate for r in learned.arrival_rates] == expected


# No window, no limit that matters: the proposal comes straight through.
FREE = Behavior(
    scale_up=DirectionRules(
        stabilization_window_seconds=0,
        policies=(StepPolicy(type="pods", value=100, period_seconds=15),),
    ),
    scale_down=DirectionRules(
        stabilization_window_seconds=0,
        policies=(StepPolicy(type="percent", value=100, period_seconds=15),),
    ),
)
WORKERS = ServicePolicy(min_replicas=1, max_replicas=50, signals=(QUEUE,), behavior=FREE)


@dataclass
class Sized:
    history: QueueMemory
    reading: QueueLoad
    ready: int
    expected: int
    reason: str


def steady(per_replica, rates) -> QueueMemory:
    """A history of reads every 10 s at these rates, the last one 10 s ago."""
    ages = range(10 * len(rates), 0, -10)
    return known(per_replica, ready=3, rates=list(zip(ages, rates, strict=True)))


SIZING = {
    "the learned throughput sizes the service, not the configured one": Sized(
        steady(5.0, [20.0] * 5), load(0, 15.0, 20.0), 3, 4, "5.00 jobs/s per replica"
    ),
    "a one-interval burst moves nothing: the window's mean": Sized(
        steady(5.0, [10.0] * 5), load(0, 10.0, 20.0), 3, 3, "11.67 jobs/s arriving (mean"
    ),
    "a surge, twice what the ready replicas complete, is sized for at once": Sized(
        steady(5.0, [10.0] * 5), load(0, 15.0, 31.0), 3, 7, "31.00 jobs/s arriving (surge)"
    ),
    "a falling rate: the window's mean, not the last read": Sized(
        steady(5.0, [20.0] * 5), load(0, 5.0, 2.0), 3, 4, "17.00 jobs/s arriving (mean"
    ),
}


@pytest.mark.parametrize("case", SIZING.values(), ids=SIZING.keys())
def test_queue_sizing(case: Sized) -> None:
    history = ServiceHistory(memory={QUEUE.name: case.history.to_memory()})
    observation = Observation(case.ready, case.ready, {QUEUE.name: case.reading})
    decision = decide("workers", WORKERS, observation, history, NOW)
    assert decision.replicas == case.expected, decision.explain()
    assert case.reason in decision.explain()


def test_remember_keeps_what_the_decision_learned() -> None:
    before = ServiceHistory(memory={QUEUE.name: known().to_memory()})
    observation = Observation(2, 2, {QUEUE.name: load(0, 8.0, 8.0)})
    decision = decide("workers", WORKERS, observation, before, NOW)
    after = remember(before, decision, WORKERS, NOW, applied=True)
    assert after.memory == decision.memory
    assert QueueMemory.from_memory(after.memory[QUEUE.name]).per_replica == 4.0
