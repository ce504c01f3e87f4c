"""The policy's rules, one named case per behaviour (the HPA's documented ones included)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from autoscaler.config import ServicePolicy
from autoscaler.policy import (
    Observation,
    Override,
    Proposal,
    Recommendation,
    ScaleEvent,
    ServiceHistory,
    Unavailable,
    decide,
    remember,
)
from autoscaler.policy.model import StartupMemory
from autoscaler.policy.parameters import Behavior, DirectionRules, StepPolicy
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.signals.bullmq_reads import QueueLoad
from autoscaler.signals.nginx_in_flight import InFlightSignal
from autoscaler.signals.nginx_request_rate import RequestRateSignal
from autoscaler.signals.nginx_stub_status import HttpLoad
from autoscaler.signals.queue_sizing import LongestJobTime, QueueMemory, RateReading

IN_FLIGHT = InFlightSignal(target_per_replica=10)
RATE = RequestRateSignal(target_per_replica=5)
QUEUE = QueueSignal(
    queue="q",
    jobs_per_second_per_replica=2,
    drain_backlog_seconds=10,
    target_utilization=1,
    scale_up_headroom=0,
)
NOW = 1000.0


def rules(window: int, *policies: StepPolicy, **extra) -> DirectionRules:
    return DirectionRules(stabilization_window_seconds=window, policies=policies, **extra)


def pods(value: int, period: int = 15) -> StepPolicy:
    return StepPolicy(type="pods", value=value, period_seconds=period)


def percent(value: int, period: int = 15) -> StepPolicy:
    return StepPolicy(type="percent", value=value, period_seconds=period)


# No window, no limit that matters: what the signals propose comes straight through.
FREE = Behavior(scale_up=rules(0, pods(1000)), scale_down=rules(0, percent(100)))


def policy(*signals, behavior: Behavior = FREE, min_replicas=1, max_replicas=50) -> ServicePolicy:
    return ServicePolicy(
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        signals=signals or (IN_FLIGHT,),
        behavior=behavior,
    )


@dataclass
class Case:
    policy: ServicePolicy
    current: int
    readings: dict
    expected: int
    ready: int | None = None
    history: ServiceHistory = field(default_factory=ServiceHistory)
    reason: str = ""

    def decision(self):
        ready = self.current if self.ready is None else self.ready
        observation = Observation(self.current, ready, self.readings)
        return decide("svc", self.policy, observation, self.history, NOW)


def in_flight(n: float) -> dict:
    return {IN_FLIGHT.name: HttpLoad(in_flight=int(n), request_rate=None)}


def check(case: Case) -> None:
    decision = case.decision()
    assert decision.replicas == case.expected, decision.explain()
    if case.reason:
        assert case.reason in decision.explain()


PROPOSALS = {
    "above target: ceil(value / target)": Case(policy(), 2, in_flight(41), 5),
    "within the scale-up tolerance: keep": Case(
        policy(), 4, in_flight(44), 4, reason="within tolerance"
    ),
    "just past the scale-up tolerance: scale": Case(policy(), 4, in_flight(45), 5),
    "within the scale-down tolerance: keep": Case(policy(), 4, in_flight(36), 4),
    "below the scale-down tolerance: scale down": Case(policy(), 4, in_flight(29), 3),
    "far below target: scale down": Case(policy(), 4, in_flight(12), 2),
    "per-direction tolerance: a wide down band keeps the count": Case(
        policy(
            behavior=Behavior(
                scale_up=rules(0, pods(100)), scale_down=rules(0, percent(100), tolerance=0.5)
            )
        ),
        4,
        in_flight(21),
        4,
        reason="within tolerance",
    ),
    "the band is around the replicas asked for: a read while two start does not ask again": Case(
        policy(),
        4,
        in_flight(41),
        4,
        ready=2,
        reason="1.02 of 4 replicas, within tolerance",
    ),
    "no ready replica and load: scale from the load": Case(policy(), 1, in_flight(25), 3, ready=0),
    "no load at all: down to min": Case(policy(min_replicas=1), 3, in_flight(0), 1),
    "request rate: ceil(rate / target)": Case(
        policy(RATE),
        1,
        {RATE.name: HttpLoad(in_flight=0, request_rate=17.0)},
        4,
    ),
    "request rate on the first read: unknown, hold": Case(
        policy(RATE),
        3,
        {RATE.name: HttpLoad(in_flight=0, request_rate=None)},
        3,
        reason="needs a second read",
    ),
    "largest proposal wins": Case(
        policy(IN_FLIGHT, RATE),
        2,
        {
            IN_FLIGHT.name: HttpLoad(in_flight=10, request_rate=None),
            RATE.name: HttpLoad(in_flight=10, request_rate=30.0),
        },
        6,
    ),
}


def queue(backlog=0, active=0, arrivals=None, finished=None, job_seconds=None) -> dict:
    """A read of the queue: 2 slots per worker; `finished` jobs/s, of `job_seconds` each."""
    load = QueueLoad(backlog, active, arrivals, finished, job_seconds, concurrency=2)
    return {QUEUE.name: load}


def arrivals(*rates: float) -> ServiceHistory:
    """Reads 2 s apart over the last 54 s, at `rates` in turn, of jobs of 1 s."""
    reads = tuple(RateReading(NOW - age, rates[age // 2 % len(rates)]) for age in range(54, 0, -2))
    return ServiceHistory(memory={QUEUE.name: QueueMemory(1.0, reads).to_memory()})


HALF_BUSY = QUEUE.model_copy(update={"target_utilization": 0.5})

# 2 slots per worker, jobs of 1 s (Little's law agrees: active = finished/s x 1 s), sized for
# 100 % of the slots; a new worker is expected after the assumed 30 s start.
QUEUE_PROPOSALS = {
    "arrivals only: rate x job time, over the slots": Case(
        policy(QUEUE), 4, queue(0, 7, 7.0, 7.0, 1.0), 4,  # 7 slots / 2 = 3.5
    ),
    "arrivals plus the backlog worked off within the drain time": Case(
        policy(QUEUE), 4, queue(60, 7, 7.0, 7.0, 1.0), 7,  # (7 + 60 x 1 s / 10 s) / 2 = 6.5
    ),
    "what the backlog gains until a new worker is ready counts too": Case(
        policy(QUEUE), 1, queue(0, 2, 7.0, 2.0, 1.0), 11,  # (7 + (7 - 2) x 30 / 10) / 2 = 11
    ),
    "queue caught up but jobs still arriving: no scale-in to the backlog's 0": Case(
        policy(QUEUE), 5, queue(0, 9, 9.0, 9.0, 1.0), 5, reason="within tolerance",
    ),
    "target utilization: headroom above the arrivals": Case(
        policy(QUEUE.model_copy(update={"target_utilization": 0.9})),
        5, queue(0, 7, 7.0, 7.0, 1.0), 4, reason="sized for 90%",  # 7 / 0.9 / 2 = 3.9
    ),
    "many arrivals within the drain time, as steady as a Poisson count's: more busy slots": Case(
        policy(HALF_BUSY), 4, queue(0, 7, 7.0, 7.0, 1.0), 5, history=arrivals(7, 7, 7),
        # 70 jobs in the 10 s drain time: 1 / (1 + 3 / sqrt(70)) = 74 %; 7 / 0.74 / 2 = 4.75
        reason="sized for 74%",
    ),
    "arrivals that vary more than a Poisson count's: their noise's headroom, the target's": Case(
        # 0, 7 and 14 jobs/s read by read: 9.1 times a Poisson count's variance; 70 / 9.1
        # jobs within the drain time leave 48 %
        policy(HALF_BUSY), 4, queue(0, 7, 7.0, 7.0, 1.0), 7, history=arrivals(0, 7, 14),
        reason="sized for 50%",
    ),
    "how much the arrivals vary not known yet: the target": Case(
        policy(HALF_BUSY), 4, queue(0, 7, 7.0, 7.0, 1.0), 7, reason="sized for 50%",
    ),
    "few arrivals within the drain time: the target": Case(
        # 7 jobs in 10 s: 3 / sqrt(7) leaves 47 %; 0.7 / 0.5 / 2 = 0.7
        policy(HALF_BUSY), 2, queue(0, 1, 0.7, 0.7, 1.0), 1, history=arrivals(0.7, 0.7, 0.7),
        reason="sized for 50%",
    ),
    "a scale-up asks for its headroom on top": Case(
        policy(QUEUE.model_copy(update={"scale_up_headroom": 0.2})), 4,
        queue(60, 7, 7.0, 7.0, 1.0), 8,  # 6.5 x 1.2 = 7.8
    ),
    "no headroom where the load is within the tolerance": Case(
        policy(QUEUE.model_copy(update={"scale_up_headroom": 0.2})), 4,
        queue(0, 8, 8.0, 8.0, 1.0), 4, reason="within tolerance",  # 4.0 workers' worth
    ),
    "idle queue: down to min": Case(
        policy(QUEUE, min_replicas=0), 3, queue(0, 0, 0.0, 0.0), 0,
    ),
    "a job running keeps one worker even at a tiny rate": Case(
        policy(QUEUE, min_replicas=0), 2, queue(0, 1, 0.01, 0.01), 1,
    ),
    "scale from zero on a backlog": Case(
        policy(QUEUE, min_replicas=0), 0, queue(3, 0, 0.0, 0.0), 1,
    ),
    "first read, no rate yet: the backlog may scale up": Case(
        policy(QUEUE), 1, queue(100, 2), 5,  # 100 x 1 s (2 slots / 2 jobs/s) / 10 s / 2
    ),
    "first read, no rate yet: never scale down": Case(
        policy(QUEUE), 6, queue(0, 0), 6, reason="partial data",
    ),
}  # fmt: skip


def rising(per_second: float) -> ServiceHistory:
    """A minute of reads from 10 jobs/s, rising by `per_second` jobs/s each second, and workers
    that take 2 s to start: the backlog by then barely counts."""
    reads = tuple(RateReading(NOW - age, 10 + (60 - age) * per_second) for age in range(60, 0, -2))
    memory = {QUEUE.name: QueueMemory(1.0, reads).to_memory()}
    return ServiceHistory(memory=memory, startup=StartupMemory(seconds=2.0))


HEADROOM = QUEUE.model_copy(update={"scale_up_headroom": 0.2})
CHANGE_WORTH_450 = Behavior(
    scale_up=rules(0, pods(1000)),
    scale_down=rules(30, percent(100), surplus_replica_seconds=450),
)

# 2 slots per worker, jobs of 1 s: a rise of 0.02 jobs/s each second adds 0.01 workers a second,
# and the step that costs least on it, a change worth 450 replica-seconds, is
# sqrt(2 x 450 x 0.01) = 3 workers.
RISING_STEPS = {
    "a clear rise: the step that costs least on it, a replica more than the headroom": Case(
        policy(HEADROOM, behavior=CHANGE_WORTH_450), 4, queue(0, 8, 11.2, 11.2, 1.0), 9,
        history=rising(0.02), reason="3.0 workers ahead",  # round(5.94 + 3); headroom: 7.13
    ),
    "no surplus rule, no worth of a change: the headroom alone": Case(
        policy(HEADROOM), 4, queue(0, 8, 11.2, 11.2, 1.0), 8, history=rising(0.02),
    ),
    "a gentle rise: its step (1.5) within a replica of the headroom (1.1), the headroom": Case(
        policy(HEADROOM, behavior=CHANGE_WORTH_450), 4, queue(0, 8, 10.3, 10.3, 1.0), 7,
        history=rising(0.005),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", RISING_STEPS.values(), ids=RISING_STEPS.keys())
def test_a_clear_rise_is_climbed_in_steps_that_cost_least(case: Case) -> None:
    check(case)


MISSING_DATA = {
    "one metric missing, the other says down: hold": Case(
        policy(IN_FLIGHT, QUEUE),
        5,
        {IN_FLIGHT.name: HttpLoad(0, None), QUEUE.name: Unavailable("redis down")},
        5,
        reason="not scaling down on partial data",
    ),
    "one metric missing, the other says up: scale up": Case(
        policy(IN_FLIGHT, QUEUE),
        2,
        {IN_FLIGHT.name: HttpLoad(70, None), QUEUE.name: Unavailable("redis down")},
        7,
    ),
    "every metric missing: hold": Case(
        policy(IN_FLIGHT),
        4,
        {IN_FLIGHT.name: Unavailable("nginx down")},
        4,
        reason="no metric available",
    ),
    "a metric never read counts as missing": Case(policy(IN_FLIGHT, RATE), 4, in_flight(0), 4),
    "every metric missing below min: still raised to min": Case(
        policy(IN_FLIGHT, min_replicas=2),
        1,
        {IN_FLIGHT.name: Unavailable("nginx down")},
        2,
    ),
}


def recommendations(*pairs: tuple[float, int]) -> ServiceHistory:
    return ServiceHistory(recommendations=tuple(Recommendation(NOW - age, n) for age, n in pairs))


def events(*triples: tuple[float, int, int]) -> ServiceHistory:
    return ServiceHistory(events=tuple(ScaleEvent(NOW - age, a, b) for age, a, b in triples))


HPA_DEFAULTS = Behavior()  # scale-up max(4 pods, 100 %) per 15 s; down 100 % per 15 s, 300 s window

SURPLUS = Behavior(
    scale_up=rules(0, pods(4)), scale_down=rules(30, percent(100), surplus_replica_seconds=300)
)
"""Down after 30 s below the count at least, once the replicas freed x seconds reach 300."""

BEHAVIOR = {
    "surplus: a large surplus goes in one step, to the highest recommendation since": Case(
        policy(behavior=SURPLUS),
        10,
        in_flight(10),
        3,
        history=recommendations((50, 3), (20, 2)),  # 7 replicas free for 50 s: 350
        reason="7 replicas free for 50s",
    ),
    "surplus: a small one waits for more evidence": Case(
        policy(behavior=SURPLUS),
        6,
        in_flight(50),
        6,
        history=recommendations((100, 5), (50, 5)),  # 1 replica free for 100 s: 100
        reason="below the surplus of 300 replica-seconds",
    ),
    "surplus: the lowest count that the evidence allows": Case(
        policy(behavior=SURPLUS),
        10,
        in_flight(10),
        2,
        history=recommendations((200, 6), (40, 2)),  # 8 x 40 s = 320 already
    ),
    "surplus: a recommendation at the count starts the evidence again": Case(
        policy(behavior=SURPLUS),
        6,
        in_flight(10),
        6,
        history=recommendations((400, 1), (100, 6), (50, 1)),
    ),
    "surplus: never before the window, however large": Case(
        policy(behavior=SURPLUS),
        20,
        in_flight(10),
        20,
        history=recommendations((20, 1)),  # 19 x 20 s = 380, but only 20 s
    ),
    "surplus: a scale-up is not held": Case(
        policy(behavior=SURPLUS),
        2,
        in_flight(60),
        6,
        history=recommendations((20, 1)),
    ),
    "HPA: scale-down takes the highest recommendation of the last 300 s": Case(
        policy(behavior=HPA_DEFAULTS),
        6,
        in_flight(10),
        5,
        history=recommendations((290, 5), (100, 3)),
        reason="highest recommendation in the last 300s",
    ),
    "HPA: recommendations older than the window are forgotten": Case(
        policy(behavior=HPA_DEFAULTS),
        6,
        in_flight(10),
        1,
        history=recommendations((301, 5)),
    ),
    "HPA: the scale-down window never raises above the current count": Case(
        policy(behavior=HPA_DEFAULTS),
        3,
        in_flight(10),
        3,
        history=recommendations((10, 8)),
    ),
    "HPA: scale-up has no window by default": Case(
        policy(behavior=HPA_DEFAULTS),
        2,
        in_flight(60),
        6,
        history=recommendations((5, 1)),
    ),
    "scale-up window: up only to the lowest recent recommendation": Case(
        policy(behavior=Behavior(scale_up=rules(60, pods(100)), scale_down=rules(0, percent(100)))),
        2,
        in_flight(60),
        4,
        history=recommendations((50, 4), (20, 9)),
        reason="lowest recommendation in the last 60s",
    ),
    "HPA: scale-up from 1 limited to +4 pods per 15 s": Case(
        policy(behavior=HPA_DEFAULTS),
        1,
        in_flight(200),
        5,
        reason="scale-up limited to 5",
    ),
    "HPA: scale-up from 10 limited to +100 % per 15 s": Case(
        policy(behavior=HPA_DEFAULTS),
        10,
        in_flight(400),
        20,
    ),
    "HPA: changes within the period count against the limit": Case(
        policy(behavior=HPA_DEFAULTS),
        6,
        in_flight(400),
        6,
        history=events((10, 2, 6)),
    ),
    "HPA: changes older than the period do not": Case(
        policy(behavior=HPA_DEFAULTS),
        6,
        in_flight(400),
        12,
        history=events((16, 2, 6)),
    ),
    "HPA: scale-down 100 % per 15 s goes straight to the target": Case(
        policy(behavior=HPA_DEFAULTS),
        20,
        in_flight(10),
        1,
    ),
    "pods policy down: one replica per minute": Case(
        policy(behavior=Behavior(scale_up=rules(0, pods(4)), scale_down=rules(0, pods(1, 60)))),
        5,
        in_flight(0),
        4,
        reason="scale-down limited to 4",
    ),
    "pods policy down: a removal within the period blocks the next": Case(
        policy(behavior=Behavior(scale_up=rules(0, pods(4)), scale_down=rules(0, pods(1, 60)))),
        4,
        in_flight(0),
        4,
        history=events((30, 5, 4)),
    ),
    "select min: the policy allowing the smaller change applies": Case(
        policy(
            behavior=Behavior(
                scale_up=rules(0, pods(4), percent(100), select="min"),
                scale_down=rules(0, percent(100)),
            )
        ),
        10,
        in_flight(400),
        14,
    ),
    "percent down rounds toward keeping replicas": Case(
        policy(behavior=Behavior(scale_up=rules(0, pods(4)), scale_down=rules(0, percent(50)))),
        5,
        in_flight(0),
        2,  # int(5 * 0.5) = 2: the HPA truncates
    ),
    "scale-down cooldown after a change: hold": Case(
        policy(
            behavior=Behavior(
                scale_up=rules(0, pods(4)), scale_down=rules(0, percent(100), cooldown_seconds=120)
            )
        ),
        5,
        in_flight(0),
        5,
        history=events((60, 1, 5)),
        reason="cooldown 120s",
    ),
    "scale-down cooldown over: scale down": Case(
        policy(
            behavior=Behavior(
                scale_up=rules(0, pods(4)), scale_down=rules(0, percent(100), cooldown_seconds=120)
            )
        ),
        5,
        in_flight(0),
        1,
        history=events((121, 1, 5)),
    ),
    "the scale-down cooldown does not hold a scale-up": Case(
        policy(
            behavior=Behavior(
                scale_up=rules(0, pods(4)), scale_down=rules(0, percent(100), cooldown_seconds=120)
            )
        ),
        5,
        in_flight(80),
        8,
        history=events((20, 1, 5)),
    ),
    "scale-up cooldown after a change: hold": Case(
        policy(
            behavior=Behavior(
                scale_up=rules(0, pods(4), cooldown_seconds=30), scale_down=rules(0, percent(100))
            )
        ),
        2,
        in_flight(80),
        2,
        history=events((10, 4, 2)),
    ),
}

LIMITS = {
    "capped at max": Case(
        policy(max_replicas=4), 2, in_flight(100), 4, reason="capped at max_replicas 4"
    ),
    "raised to min": Case(policy(min_replicas=3), 3, in_flight(0), 3),
    "below min (changed by hand): raised to min at once": Case(
        policy(min_replicas=3, behavior=HPA_DEFAULTS),
        1,
        in_flight(0),
        3,
    ),
    "above max (changed by hand): lowered to max": Case(
        policy(max_replicas=4, behavior=HPA_DEFAULTS),
        9,
        in_flight(90),
        4,
    ),
}

OVERRIDES = {
    "an active override pins the count": Case(
        policy(),
        2,
        in_flight(200),
        3,
        history=ServiceHistory(override=Override(3, until=NOW + 60)),
        reason="pinned by hand",
    ),
    "an override for good pins the count": Case(
        policy(),
        2,
        in_flight(0),
        7,
        history=ServiceHistory(override=Override(7)),
    ),
    "a forced override outside [min, max] is applied as asked": Case(
        policy(max_replicas=4),
        2,
        in_flight(0),
        9,
        history=ServiceHistory(override=Override(9)),
    ),
    "an expired override is ignored": Case(
        policy(),
        2,
        in_flight(60),
        6,
        history=ServiceHistory(override=Override(3, until=NOW)),
    ),
}


@dataclass(frozen=True)
class Fixed:
    """A signal that proposes `replicas`, and says why a fall to them lasts where `lasting`."""

    replicas: int
    lasting: str = ""
    name: str = "fixed"
    without_backlog: int | None = None

    def propose(self, observation, behavior, memory, now) -> Proposal:
        return Proposal(
            self.name,
            self.replicas,
            "fixed",
            lasting=self.lasting,
            without_backlog=self.without_backlog,
        )


@dataclass(frozen=True)
class FixedRules:
    signals: tuple[Fixed, ...]
    behavior: Behavior = SURPLUS
    min_replicas: int = 1
    max_replicas: int = 50


SHORTER = "jobs of 0.5s, down from 16.0s"
# 3 replicas; the recommendations fell to 2 50 s ago, to 1 20 s ago: 1 replica free for 50 s
# and 2 for 20 s, far below the 300 replica-seconds of SURPLUS.
FELL = recommendations((50, 2), (20, 1))

LASTING = {
    "a fall that lasts: straight to the recommendation": Case(
        FixedRules((Fixed(1, SHORTER),)), 3, {}, 1, history=FELL,
        reason=f"2 replicas free, below the count for 50s and lasting: {SHORTER}",
    ),
    "a fall that lasts needs no window either: the signal's evidence is older": Case(
        FixedRules((Fixed(1, SHORTER),)), 3, {}, 1, history=recommendations(),
        reason=f"2 replicas free, below the count for 0s and lasting: {SHORTER}",
    ),
    "a fall not known to last waits for the surplus budget": Case(
        FixedRules((Fixed(1),)), 3, {}, 3, history=FELL,
        reason="below the surplus of 300 replica-seconds",
    ),
    "every signal asking for the recommendation must know the fall lasts": Case(
        FixedRules((Fixed(1, SHORTER), Fixed(1, name="other"))), 3, {}, 3, history=FELL,
    ),
    "a lower signal's lasting fall is not the recommendation's": Case(
        FixedRules((Fixed(2), Fixed(1, SHORTER, name="other"))), 3, {}, 3, history=FELL,
    ),
    "the queue signal: 0.5 s jobs after 16 s ones, at the same rate": Case(
        policy(QUEUE, behavior=SURPLUS), 3, queue(0, 0, 0.25, 0.25, 0.5), 1,
        history=ServiceHistory(
            recommendations=FELL.recommendations,
            memory={
                QUEUE.name: QueueMemory(0.5, longest=LongestJobTime(NOW - 60, 16.0)).to_memory()
            },
        ),
        reason=f"and lasting: {SHORTER}",
    ),
}  # fmt: skip


def asked_and_without_backlog(signal: QueueSignal, reading: dict) -> tuple[int | None, ...]:
    proposal = Case(policy(signal), 4, reading, 0).decision().proposals[0]
    return proposal.replicas, proposal.without_backlog


def test_the_queue_tells_the_count_once_its_backlog_is_worked_off() -> None:
    # (7 + 60 x 1 s / 10 s) / 2 = 6.5 asked for; 7 slots / 2 = 3.5 for the load: within the
    # tolerance of the 4 there are
    assert asked_and_without_backlog(QUEUE, queue(60, 7, 7.0, 7.0, 1.0)) == (7, 4)
    assert asked_and_without_backlog(QUEUE, queue(0, 7, 7.0, 7.0, 1.0)) == (4, None)
    # sized for 50 %: the 10 jobs waiting are worked off within the headroom, no worker of
    # their own (7 / 0.5 / 2 = 7)
    assert asked_and_without_backlog(HALF_BUSY, queue(10, 7, 7.0, 7.0, 1.0)) == (7, 7)


def worked_off(*triples: tuple[float, int, int | None]) -> ServiceHistory:
    """Recommendations `age` s old, of `replicas`, `without_backlog` where jobs waited."""
    return ServiceHistory(
        recommendations=tuple(Recommendation(NOW - age, n, w) for age, n, w in triples)
    )


# 10 replicas asked for 60 s ago to work a backlog off, the load alone needing 3; the backlog
# went down 10 s ago.
DRAINED = worked_off((60, 10, 3), (40, 8, 3), (10, 3, None))

BACKLOG_WORKED_OFF = {
    "no job waits: those made while jobs waited count as the load's, the fall from then on": Case(
        FixedRules((Fixed(3),)), 10, {}, 3, history=DRAINED,
        reason="7 replicas free for 60s: the highest recommendation since, each made while "
        "jobs waited read as the count for the load alone",
    ),
    "jobs still wait: the recommendations count as made": Case(
        FixedRules((Fixed(3, without_backlog=3),)), 10, {}, 10, history=DRAINED,
        reason="below the surplus of 300 replica-seconds",
    ),
    "a recommendation made without jobs waiting counts as made": Case(
        FixedRules((Fixed(3),)), 10, {}, 10,
        history=worked_off((60, 10, None), (10, 3, None)),
        reason="below the surplus of 300 replica-seconds",
    ),
    "the load's own count made while jobs waited still holds the count": Case(
        FixedRules((Fixed(3),)), 10, {}, 6, history=worked_off((100, 10, 6), (10, 3, None)),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", BACKLOG_WORKED_OFF.values(), ids=BACKLOG_WORKED_OFF.keys())
def test_a_backlog_worked_off_does_not_hold_the_count(case: Case) -> None:
    check(case)


def test_remember_keeps_the_count_without_the_backlog() -> None:
    service = FixedRules((Fixed(8, without_backlog=3), Fixed(5, name="other")))
    decision = Case(service, 2, {}, 8).decision()  # type: ignore[arg-type]
    after = remember(ServiceHistory(), decision, service, NOW, applied=True)  # type: ignore[arg-type]
    assert after.recommendations == (Recommendation(NOW, 8, without_backlog=5),)


@pytest.mark.parametrize("case", LASTING.values(), ids=LASTING.keys())
def test_a_fall_that_lasts_needs_no_surplus_budget(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", PROPOSALS.values(), ids=PROPOSALS.keys())
def test_proposals(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", QUEUE_PROPOSALS.values(), ids=QUEUE_PROPOSALS.keys())
def test_queue_proposals(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", MISSING_DATA.values(), ids=MISSING_DATA.keys())
def test_missing_data_never_scales_down(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", BEHAVIOR.values(), ids=BEHAVIOR.keys())
def test_behavior(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", LIMITS.values(), ids=LIMITS.keys())
def test_limits(case: Case) -> None:
    check(case)


@pytest.mark.parametrize("case", OVERRIDES.values(), ids=OVERRIDES.keys())
def test_overrides(case: Case) -> None:
    check(case)


def test_a_decision_explains_every_stage() -> None:
    decision = Case(policy(max_replicas=3), 1, in_flight(100), 3).decision()
    assert [step.stage for step in decision.steps] == [
        "guarded",
        "stabilized",
        "cooldown",
        "limited",
        "clamped",
    ]
    assert decision.recommendation == 10
    assert "100 in flight at 10 per replica" in decision.explain()
    assert "capped at max_replicas 3" in decision.explain()


def test_remember_keeps_what_the_rules_can_still_see() -> None:
    service = policy(behavior=HPA_DEFAULTS)
    history = recommendations((400, 9), (200, 4))
    decision = Case(service, 4, in_flight(10), 4, history=history).decision()
    after = remember(history, decision, service, NOW, applied=True)
    assert [(r.at, r.replicas) for r in after.recommendations] == [(NOW - 200, 4), (NOW, 1)]


@pytest.mark.parametrize("applied", [True, False], ids=["applied", "not-applied"])
def test_remember_records_a_change_only_when_applied(applied: bool) -> None:
    service = policy()
    decision = Case(service, 2, in_flight(60), 6).decision()
    after = remember(ServiceHistory(), decision, service, NOW, applied=applied)
    assert [(e.before, e.after) for e in after.events] == ([(2, 6)] if applied else [])


def test_remember_drops_an_expired_override() -> None:
    service = policy()
    history = ServiceHistory(override=Override(3, until=NOW - 1))
    decision = Case(service, 3, in_flight(30), 3, history=history).decision()
    assert remember(history, decision, service, NOW, applied=True).override is None
