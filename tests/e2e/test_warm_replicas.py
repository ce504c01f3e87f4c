"""Warm replicas on the product's stack (stand-in Flowise, real Docker, Compose, nginx, Redis,
BullMQ): the refill starts a replica of each service, lets it warm up and pauses it; nginx never
routes to the paused main; a scale-out unpauses the warm replica instead of starting one, and
the refill fills the pool again."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flowise_stack import FlowiseStack, Predictions, predict, running_flowise_stack
from harness import HarnessError

from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.warm import WarmPool
from autoscaler.config import Settings
from autoscaler.runtime import wiring
from autoscaler.signals.bullmq_reads import BullMQQueue
from autoscaler.stopping import StopSignal

pytestmark = pytest.mark.e2e

MAINS, WORKERS = "flowise", "flowise-worker"


POOLS = {MAINS: 1, WORKERS: 2}


def with_pools(stack: FlowiseStack) -> Settings:
    services = {
        name: policy.model_copy(update={"warm_replicas": POOLS[name]})
        for name, policy in stack.settings.services.items()
    }
    return stack.settings.model_copy(update={"services": services})


def replicas(settings: Settings, service: str) -> list[Replica]:
    return wiring.transaction(settings).snapshot().get(service, [])


def routed_servers(settings: Settings) -> set[str]:
    text = settings.nginx.upstream_file.read_text()
    return {line.split()[1].split(":")[0] for line in text.splitlines() if "max_fails" in line}


def answering_mains(stack: FlowiseStack, count: int) -> set[str]:
    """Which mains answered `count` predictions sent through nginx at once (all must)."""
    with ThreadPoolExecutor(count) as pool:
        answers = list(pool.map(lambda _: predict(stack.http_url, "200", timeout=30), range(count)))
    assert [a.status_code for a in answers] == [200] * count
    return {a.json()["main"] for a in answers}


def mains_answering_within(stack: FlowiseStack, mains: int, batches: int) -> bool:
    """Whether `mains` mains answer within `batches` batches of predictions: right after a
    reload, nginx's old workers still take connections with the previous upstream."""
    seen: set[str] = set()
    for _ in range(batches):
        seen |= answering_mains(stack, 6)
        if len(seen) == mains:
            return True
    return False


def test_the_pool_is_filled_paused_unrouted_and_a_scale_out_unpauses_it(tmp_path: Path) -> None:
    try:
        with running_flowise_stack(tmp_path, WORKER_CONCURRENCY="2") as stack:
            settings = with_pools(stack)
            pool, changes = WarmPool(), []
            refill = wiring.warm_refill(settings, StopSignal(), pool, changes.append)
            scaler = wiring.transaction(settings, pool=pool)

            refill.refill()
            assert [r.state for r in replicas(settings, WORKERS)] == ["running", "paused", "paused"]
            warm_main = next(r for r in replicas(settings, MAINS) if r.state == "paused")
            warm_workers = [r.name for r in replicas(settings, WORKERS) if r.state == "paused"]
            assert sum(r.state == "running" for r in replicas(settings, MAINS)) == 2
            scaler.reconcile(scaler.snapshot())
            assert not set(warm_main.addresses.values()) & routed_servers(settings)
            mains_seen = answering_mains(stack, 12)
            assert len(mains_seen) == 2, "the two running mains answered, the paused one none"

            outcome = scaler.scale(WORKERS, 3, scaler.snapshot())
            assert sorted(outcome.added) == warm_workers, "the warm workers, no new one"
            with ThreadPoolExecutor(12) as burst:
                answers = list(burst.map(lambda _: predict(stack.http_url, "1000"), range(12)))
            assert [a.status_code for a in answers] == [200] * 12
            assert len({a.json()["worker"] for a in answers}) == 3, "the woken workers took jobs"

            outcome = scaler.scale(MAINS, 3, scaler.snapshot())
            assert outcome.added == (warm_main.name,) and not outcome.not_ready
            assert set(warm_main.addresses.values()) & routed_servers(settings)
            assert mains_answering_within(stack, 3, batches=10), "the woken main is routed to"

            refill.refill()
            for service, size in POOLS.items():
                states = [r.state for r in replicas(settings, service)]
                assert states.count("paused") == size, (service, states)
    except HarnessError as error:
        pytest.fail(str(error))


def test_up_status_and_down_on_a_stack_whose_pools_are_paused(tmp_path: Path) -> None:
    """`up` again on a running stack with paused pools: it starts nothing, unpauses nothing and
    waits for no paused replica; `status` shows the pools; `down` removes every container."""
    try:
        with running_flowise_stack(tmp_path, WORKER_CONCURRENCY="2") as stack:
            settings = with_pools(stack)
            wiring.warm_refill(settings, StopSignal(), WarmPool(), lambda _: None).refill()
            paused = {r.name for s in POOLS for r in replicas(settings, s) if r.state == "paused"}
            assert len(paused) == sum(POOLS.values())

            up = stack.cli("up")
            assert up.returncode == 0, up.stdout + up.stderr
            assert "(flowise: 2, flowise-worker: 1)" in up.stdout, up.stdout
            for service in POOLS:
                states = [r.state for r in replicas(settings, service)]
                assert states.count("paused") == POOLS[service], (service, states)
            assert "keeping the warm replicas of" in up.stdout, up.stdout
            assert not [name for name in paused if name in up.stdout], "none waited for"

            shown = stack.cli("status").stdout  # exits 1: no prediction made the queue yet
            assert "flowise: 2 running, 2 ready, 1 warm of 0" in shown, shown
            assert "flowise-worker: 1 running, 1 ready, 2 warm of 0" in shown, shown

            down = stack.cli("down")
            assert down.returncode == 0, down.stdout + down.stderr
            left = wiring.docker_client(settings).compose.ps(all=True)
            assert left == [], [c.name for c in left]
    except HarnessError as error:
        pytest.fail(str(error))


def test_a_warm_worker_is_never_left_paused_holding_a_job(tmp_path: Path) -> None:
    """Predictions flow, one after another, without a backlog: a worker warming for the pool
    takes some of them as soon as it registers, and may hold one when it is paused. The refill
    reads its jobs once paused and, holding one, unpauses it to finish. In the end the worker is
    paused holding none, or left running; no job stalled, every prediction answered."""
    try:
        with running_flowise_stack(tmp_path, WORKER_CONCURRENCY="2") as stack:
            settings = stack.settings.model_copy(update={"services": {
                WORKERS: stack.settings.services[WORKERS].model_copy(update={"warm_replicas": 1})
            }})  # fmt: skip
            opened = wiring.connections(settings)
            queue = BullMQQueue(opened.redis, "flowise-queue-prediction")
            changes: list[str] = []
            refill = wiring.warm_refill(settings, StopSignal(), WarmPool(), changes.append)
            with Predictions(stack.http_url, "2000", clients=2, max_seconds=240) as load:
                assert predict(stack.http_url, "1").status_code == 200  # the queue exists
                queue.stalled_since_last_read()  # counted from here
                refill.refill()
                [warm] = [r for r in replicas(settings, WORKERS) if r.number > 1]
                backend = wiring.compose_backend(settings, wiring.docker_client(settings))
                held = wiring.worker_jobs(settings, opened, backend)
                if warm.state == "paused":
                    assert held(WORKERS, [warm]) == {warm.id: 0}, changes
                # a job left on a paused worker stalls once its lock (30 s) runs out, and is
                # moved back at the next stalled check (every 30 s): watch that long
                time.sleep(65)
            assert queue.stalled_since_last_read() == 0, changes
            assert load.outcomes and all(o.status == 200 for o in load.outcomes), changes
            print("refill:", changes)
    except HarnessError as error:
        pytest.fail(str(error))
