"""The warm pool: how its replicas count, and the refill that keeps it full, with a fake engine
at the I/O edge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import redis
from pydantic import TypeAdapter

from autoscaler.actuators.replicas import Replica, ReplicaCount, count
from autoscaler.actuators.warm import WarmPool
from autoscaler.config import Settings
from autoscaler.errors import Interrupted
from autoscaler.runtime import status_report
from autoscaler.runtime.state import ServiceRecord, TickRecord
from autoscaler.runtime.warm_refill import MAX_PAUSES, PoolSpec, WarmRefill, judge_paused

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def worker(number: int, state: str = "running") -> Replica:
    return Replica(
        id=f"w{number}", name=f"p-flowise-worker-{number}", service="flowise-worker",
        number=number, state=state, health=None, started_at=START,
        addresses={"p_default": f"172.18.2.{number}"},
    )  # fmt: skip


def test_warm_replicas_are_neither_running_capacity_nor_ready() -> None:
    replicas = [worker(1), worker(2, "paused"), worker(3, "warming")]
    assert count(replicas) == ReplicaCount(running=1, ready=1, warm=2)


def test_the_pool_marks_the_replicas_it_is_warming() -> None:
    pool = WarmPool()
    pool.warming("w2")
    marked = pool.mark({"flowise-worker": [worker(1), worker(2)]})
    assert [r.state for r in marked["flowise-worker"]] == ["running", "warming"]
    pool.settled("w2")
    assert pool.mark({"flowise-worker": [worker(2)]})["flowise-worker"][0].state == "running"


class FakeBackend:
    """Replicas in memory, marked by the shared pool as the Compose backend marks them."""

    def __init__(self, pool: WarmPool, replicas: list[Replica]) -> None:
        self.pool = pool
        self.containers = replicas
        self.actions: list[str] = []

    def replicas(self) -> dict[str, list[Replica]]:
        return self.pool.mark({"flowise-worker": list(self.containers)})

    def add_warming(self, service: str, count: int) -> list[Replica]:
        added = [worker(len(self.containers) + n) for n in range(1, count + 1)]
        self.containers += added
        for replica in added:
            self.pool.warming(replica.id)
        self.actions.append("add " + " ".join(r.name for r in added))
        return added

    def pause(self, replica: Replica) -> None:
        self._set_state(replica, "paused")
        self.actions.append(f"pause {replica.name}")

    def unpause(self, replica: Replica) -> None:
        self._set_state(replica, "running")
        self.actions.append(f"unpause {replica.name}")

    def _set_state(self, replica: Replica, state: str) -> None:
        self.containers = [replace(r, state=state) if r.id == replica.id else r
                           for r in self.containers]  # fmt: skip

    def remove(self, replicas: list[Replica]) -> None:
        gone = {r.id for r in replicas}
        self.containers = [r for r in self.containers if r.id not in gone]
        self.actions.append("remove " + " ".join(r.name for r in replicas))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def refill_for(backend: FakeBackend, spec: PoolSpec, clock: Clock) -> WarmRefill:
    changes: list[str] = []
    return WarmRefill(backend, backend.pool, {"flowise-worker": spec}, 30,  # type: ignore[arg-type]
                      lambda: clock.now, clock.sleep, changes.append)  # fmt: skip


def test_a_short_pool_gets_a_replica_started_warmed_then_paused() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    clock = Clock()
    warmed_at = 5.0

    def paused(replica: Replica) -> None:
        backend.actions.append(f"told {replica.name} paused")

    spec = PoolSpec(1, warmed=lambda r: clock.now >= warmed_at, paused=paused)
    refill = refill_for(backend, spec, clock)
    refill.refill()
    assert backend.actions == [
        "add p-flowise-worker-2", "pause p-flowise-worker-2", "told p-flowise-worker-2 paused",
    ]  # fmt: skip
    assert clock.now >= warmed_at, "paused only once warmed"
    refill.refill()
    assert len(backend.actions) == 3, "a full pool is left alone"


def test_while_it_warms_the_replica_is_neither_capacity_nor_routed() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    seen: list[str] = []

    def warmed(replica: Replica) -> bool:
        seen.append(backend.replicas()["flowise-worker"][-1].state)
        return True

    refill_for(backend, PoolSpec(1, warmed=warmed), Clock()).refill()
    assert seen == ["warming"]


def test_a_replica_that_warms_into_waiting_work_is_left_running_as_capacity() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    refill_for(backend, PoolSpec(1, warmed=lambda r: True, busy=lambda: True), Clock()).refill()
    assert backend.actions == ["add p-flowise-worker-2"]
    assert backend.replicas()["flowise-worker"][-1].state == "running"


def test_a_replica_that_never_warms_is_removed() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    refill_for(backend, PoolSpec(1, warmed=lambda r: False), Clock()).refill()
    assert backend.actions == ["add p-flowise-worker-2", "remove p-flowise-worker-2"]


def test_a_stop_while_it_warms_leaves_it_running_and_unmarked() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])

    def stop_requested(seconds: float) -> None:
        raise Interrupted("stopping")

    changes: list[str] = []
    refill = WarmRefill(backend, backend.pool, {"flowise-worker": PoolSpec(1, lambda r: False)},  # type: ignore[arg-type]
                        30, lambda: 0.0, stop_requested, changes.append)  # fmt: skip
    with pytest.raises(Interrupted):
        refill.refill()
    assert backend.replicas()["flowise-worker"][-1].state == "running"


@pytest.mark.parametrize("failing", ["busy", "paused", "jobs"])
def test_a_redis_error_while_it_warms_leaves_it_running_as_capacity(failing) -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])

    def redis_down(*_: object) -> None:
        raise redis.ConnectionError("Connection refused")

    spec = replace(PoolSpec(1, warmed=lambda r: True, jobs=lambda r: 0), **{failing: redis_down})
    with pytest.raises(redis.ConnectionError):
        refill_for(backend, spec, Clock()).refill()
    last = backend.replicas()["flowise-worker"][-1]
    assert last.state == "running", "counted, unpaused: unchecked, it may hold a job"


def test_status_shows_the_pool_next_to_the_running_replicas() -> None:
    settings = Settings.model_validate(
        {"services": {"flowise-worker": {"max_replicas": 4, "warm_replicas": 2}}}
    ).model_dump(mode="json")
    replicas = (("p-flowise-worker-1", "running", None), ("p-flowise-worker-2", "paused", None),
                ("p-flowise-worker-3", "warming", None))  # fmt: skip
    seen = ServiceRecord(1, 1, 1, "steady", acted=False, replicas=replicas)
    tick = TickRecord(0.0, "host:1", True, {"flowise-worker": seen})
    record = TypeAdapter(TickRecord).dump_python(tick, mode="json")
    shown = status_report.render(
        status_report.report(settings, None, record, "test", 0.0, None, {})
    )
    assert "flowise-worker: 1 running, 1 ready, 2 warm of 2 (min 1, max 4)" in shown
    assert "  p-flowise-worker-2  paused  -" in shown


def test_a_woken_replica_that_answered_counts_healthy_until_docker_probes_it() -> None:
    pool = WarmPool()
    main = replace(worker(1), health="unhealthy")
    assert not pool.mark({"s": [main]})["s"][0].routable
    pool.answered(main.id)
    assert pool.mark({"s": [main]})["s"][0].routable
    assert not pool.mark({"s": [replace(main, state="exited")]})["s"][0].routable


def test_a_pool_short_of_two_starts_both_at_once_and_pauses_each() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    refill = refill_for(backend, PoolSpec(2, warmed=lambda r: True), Clock())
    refill.refill()
    assert backend.actions == [
        "add p-flowise-worker-2 p-flowise-worker-3",
        "pause p-flowise-worker-2",
        "pause p-flowise-worker-3",
    ]


VERDICTS = {
    "holds no job": (0, 1, "stay"),
    "its jobs cannot be seen": (None, 1, "stay"),
    "took a job before it froze": (2, 1, "finish"),
    "took one again": (1, 2, "finish"),
    "took one at every pause": (1, MAX_PAUSES, "release"),
}  # fmt: skip


@pytest.mark.parametrize("jobs, pauses, action", VERDICTS.values(), ids=VERDICTS.keys())
def test_a_worker_just_paused_stays_paused_only_holding_no_job(jobs, pauses, action) -> None:
    verdict = judge_paused(jobs, pauses)
    assert verdict.action == action and verdict.reason


class GrabbingWorker:
    """A worker's jobs as its locks tell them: it took one just before each of its first
    `grabs` pauses, and finishes it a few polls after it is unpaused."""

    def __init__(self, backend: FakeBackend, grabs: int) -> None:
        self.backend = backend
        self.grabs = grabs
        self.polls_left = 0

    def jobs(self, replica: Replica) -> int:
        state = self.backend.containers[-1].state  # Docker's: the pool shows it warming
        if state == "paused" and self.polls_left == 0 and self.grabs:
            self.grabs -= 1
            self.polls_left = 3
        if state == "running" and self.polls_left:
            self.polls_left -= 1
        return int(self.polls_left > 0)

    def states(self) -> list[str]:
        return [r.state for r in self.backend.replicas()["flowise-worker"]]


def test_a_worker_paused_holding_a_job_is_unpaused_to_finish_it_and_paused_again() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    grabbing = GrabbingWorker(backend, grabs=1)
    states_while_finishing: list[str] = []

    def jobs(replica: Replica) -> int:
        held = grabbing.jobs(replica)
        states_while_finishing.append(grabbing.states()[-1])
        return held

    refill_for(backend, PoolSpec(1, warmed=lambda r: True, jobs=jobs), Clock()).refill()
    assert backend.actions == [
        "add p-flowise-worker-2", "pause p-flowise-worker-2", "unpause p-flowise-worker-2",
        "pause p-flowise-worker-2",
    ]  # fmt: skip
    assert grabbing.states() == ["running", "paused"], "paused at last, holding no job"
    assert "running" not in states_while_finishing, "never capacity nor woken meanwhile"


def test_a_worker_that_takes_a_job_at_every_pause_is_left_running() -> None:
    backend = FakeBackend(WarmPool(), [worker(1)])
    grabbing = GrabbingWorker(backend, grabs=MAX_PAUSES)
    refill_for(backend, PoolSpec(1, warmed=lambda r: True, jobs=grabbing.jobs), Clock()).refill()
    assert backend.actions.count("pause p-flowise-worker-2") == MAX_PAUSES
    assert grabbing.states() == ["running", "running"], "capacity the next tick counts"
