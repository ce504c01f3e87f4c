"""The warm pool: how its replicas count, and the refill that keeps it full, with a fake engine
at the I/O edge."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter

from autoscaler.actuators.replicas import Replica, ReplicaCount, count
from autoscaler.actuators.warm import WarmPool
from autoscaler.config import Settings
from autoscaler.errors import Interrupted
from autoscaler.runtime import status_report
from autoscaler.runtime.state import ServiceRecord, TickRecord
from autoscaler.runtime.warm_refill import PoolSpec, WarmRefill

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
        self.containers = [replace(r, state="paused") if r.id == replica.id else r
                           for r in self.containers]  # fmt: skip
        self.pool.settled(replica.id)
        self.actions.append(f"pause {replica.name}")

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
