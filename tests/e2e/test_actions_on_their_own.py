"""Each service's action on its own, on the product's stack and the daemon as an operator runs it:
a worker scale-out goes ahead while a main drains, and scaling the workers in lets the victim
finish its jobs before it stops. The counts are pinned in the state file, as `scale --for`
would, so that the daemon alone acts on them."""

from __future__ import annotations

import threading
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
import requests
import tomli_w
from flowise_stack import FlowiseStack, predict, running_flowise_stack
from harness import Daemon, HarnessError

from autoscaler.policy import Override
from autoscaler.runtime import wiring
from autoscaler.runtime.state import StateFile

pytestmark = pytest.mark.e2e

MAINS, WORKERS = "flowise", "flowise-worker"
QUEUE = "flowise-queue-prediction"
SKIPPED_TICK = "maximum number of running instances reached"


def pin(stack: FlowiseStack, service: str, replicas: int) -> None:
    state_file = StateFile(stack.settings.daemon.state_file)
    with state_file.locked():
        state = state_file.read()
        pinned = state.history(service).with_override(Override(replicas, until=None))
        state_file.write(state.with_history(service, pinned))


def last_tick(stack: FlowiseStack):
    record = StateFile(stack.settings.daemon.state_file).read().last_tick
    assert record is not None
    return record


def running(stack: FlowiseStack, service: str) -> list:
    docker = wiring.docker_client(stack.settings)
    return [c for c in docker.compose.ps(services=[service]) if c.state.running]


@contextmanager
def daemon_on(stack: FlowiseStack, folder: Path) -> Iterator[Daemon]:
    """The daemon on the stack's own config, its metrics off; stopped at the end (exit 0)."""
    settings = tomllib.loads(stack.config_file.read_text())
    settings.setdefault("daemon", {})["metrics_port"] = 0
    config = folder / "daemon.toml"
    config.write_text(tomli_w.dumps(settings))
    daemon = Daemon(config)
    try:
        yield daemon
    finally:
        assert daemon.stop() == 0, daemon.lines[-5:]
    assert not any(SKIPPED_TICK in line for line in daemon.lines), "a tick was skipped"


def hold(url: str, ms: int, answers: list[int]) -> threading.Thread:
    def request() -> None:
        answers.append(requests.get(f"{url}/hold?ms={ms}", timeout=ms / 1000 + 60).status_code)

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    return thread


def holding_both_mains(stack: FlowiseStack, answers: list[int]) -> list[threading.Thread]:
    """Requests held 40 s on both mains, so that the victim drains: four, since each nginx
    worker process balances on its own (least_conn without a shared zone), and one of two
    takes at least two of them, one per main."""
    return [hold(stack.http_url, 40_000, answers) for _ in range(4)]


def test_a_worker_scale_out_goes_ahead_while_a_main_drains(tmp_path: Path) -> None:
    try:
        with (
            running_flowise_stack(tmp_path / "stack") as stack,
            daemon_on(stack, tmp_path) as daemon,
        ):
            answers: list[int] = []
            held = holding_both_mains(stack, answers)
            daemon.ticks_from_now(2)
            pin(stack, MAINS, 1)
            daemon.wait_for(r"take the victim out of the nginx upstream.*\[acted\]")
            pin(stack, WORKERS, 3)
            daemon.wait_for(rf"{WORKERS} 1 -> 3 done")
            assert len(running(stack, WORKERS)) == 3
            mains = last_tick(stack).services[MAINS]
            assert mains.in_progress is not None, "the main still drains"
            assert len(running(stack, MAINS)) == 2, "the victim still serves its request"

            daemon.wait_for(rf"{MAINS} 2 -> 1 done", timeout=90)
            for thread in held:
                thread.join(60)
            assert answers == [200] * len(held), "the drained main finished its requests"
            assert len(running(stack, MAINS)) == 1
    except HarnessError as error:
        pytest.fail(str(error))


def test_scaling_workers_in_lets_the_victim_finish_its_jobs(tmp_path: Path) -> None:
    """Jobs longer than the 30 s a stopped worker gives them: only waiting for them saves them."""
    try:
        with running_flowise_stack(tmp_path / "stack", WORKER_CONCURRENCY="2") as stack, \
                daemon_on(stack, tmp_path) as daemon:  # fmt: skip
            pin(stack, WORKERS, 2)
            daemon.wait_for(rf"{WORKERS} 1 -> 2 done")
            client = redis.Redis.from_url(str(stack.settings.redis.url))
            with ThreadPoolExecutor(4) as pool:
                answers = [pool.submit(predict, stack.http_url, "45000", 120) for _ in range(4)]
                wait_until(lambda: int(client.llen(f"bull:{QUEUE}:active")) == 4, daemon)
                pin(stack, WORKERS, 1)
                daemon.wait_for(r"run no job \(their BullMQ job locks\).*\[acted\]")
                daemon.wait_for(rf"{WORKERS} 2 -> 1 done", timeout=120)
                results = [answer.result() for answer in answers]
            assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
            workers = {r.json()["worker"] for r in results}
            assert len(workers) == 2, "both workers ran two jobs each: the victim finished its own"
            events = client.xrange(f"bull:{QUEUE}:events")
            assert not [e for _, e in events if e.get(b"event") == b"stalled"], "no job was cut"
            assert len(running(stack, WORKERS)) == 1
    except HarnessError as error:
        pytest.fail(str(error))


def wait_until(condition, daemon: Daemon, ticks: int = 30) -> None:
    for _ in range(ticks):
        if condition():
            return
        daemon.ticks_from_now(1)
    raise HarnessError(f"not so after {ticks} ticks")


def routed_servers(stack: FlowiseStack) -> int:
    upstream = stack.settings.nginx.upstream_file.read_text()
    return sum("max_fails" in line for line in upstream.splitlines())


def test_a_stop_mid_drain_routes_the_victim_again_and_the_next_start_finishes(
    tmp_path: Path,
) -> None:
    try:
        with running_flowise_stack(tmp_path / "stack") as stack:
            answers: list[int] = []
            held = holding_both_mains(stack, answers)
            with daemon_on(stack, tmp_path) as daemon:
                daemon.ticks_from_now(2)
                pin(stack, MAINS, 1)
                daemon.wait_for(r"take the victim out of the nginx upstream.*\[acted\]")
                # the action chooses its victim (a read of nginx's sockets) before it takes it out
                wait_until(lambda: routed_servers(stack) == 1, daemon)
            assert routed_servers(stack) == 2, "the victim, still running, is routed again"
            assert len(running(stack, MAINS)) == 2, "nothing half done"

            with daemon_on(stack, tmp_path) as daemon:
                daemon.wait_for(rf"{MAINS} 2 -> 1 done", timeout=90)
            for thread in held:
                thread.join(60)
            assert answers == [200] * len(held)
            assert len(running(stack, MAINS)) == 1 and routed_servers(stack) == 1
    except HarnessError as error:
        pytest.fail(str(error))
