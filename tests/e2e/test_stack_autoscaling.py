"""A burst of predictions scales the workers out, and back in once it is worked off: the
daemon's own tick (observe, decide, plan, apply) on real BullMQ readings, on the product's
stack. The daemon's scheduling and signals are tested by their own suite."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flowise_stack import FlowiseStack, predict, running_flowise_stack
from harness import HarnessError
from python_on_whales import Container
from python_on_whales.exceptions import NoSuchContainer

from autoscaler.config import ServicePolicy
from autoscaler.policy.parameters import Behavior, DirectionRules, StepPolicy
from autoscaler.runtime import wiring
from autoscaler.signals.bullmq_queue import QueueSignal

pytestmark = pytest.mark.e2e

WORKERS = "flowise-worker"
SIGNAL = QueueSignal(
    jobs_per_second_per_replica=2.0,  # WORKER_CONCURRENCY=2 and one-second jobs
    drain_backlog_seconds=5,
    arrival_window_seconds=5,
)
# The defaults wait minutes before scaling in; a test cannot.
POLICY = ServicePolicy(
    min_replicas=1,
    max_replicas=3,
    signals=(SIGNAL,),
    behavior=Behavior(
        scale_down=DirectionRules(
            stabilization_window_seconds=5,
            policies=(StepPolicy(type="pods", value=1, period_seconds=1),),
        )
    ),
)


class WorkerAutoscaler:
    """The daemon's own tick, on the workers alone, with a policy a test can wait out."""

    def __init__(self, stack: FlowiseStack) -> None:
        settings = stack.settings.model_copy(update={"services": {WORKERS: POLICY}})
        self._autoscaler = wiring.autoscaler(settings, dry_run=False)

    def tick(self) -> int:
        """The worker count after this tick."""
        report = self._autoscaler.tick()
        assert not report.failed, report.record.errors
        return report.evaluations[WORKERS].decision.replicas

    def finish(self) -> None:
        """Wait for the scaling in progress: a worker started after the stack's teardown began
        would keep its network."""
        self._autoscaler.finish_actions()


def test_a_burst_scales_the_workers_out_and_back_in(tmp_path: Path) -> None:
    try:
        with running_flowise_stack(tmp_path, WORKER_CONCURRENCY="2") as stack:
            autoscaler = WorkerAutoscaler(stack)
            try:
                check_a_burst_scales_out_and_back_in(stack, autoscaler)
            finally:
                autoscaler.finish()
    except HarnessError as error:
        pytest.fail(str(error))


def check_a_burst_scales_out_and_back_in(stack: FlowiseStack, autoscaler: WorkerAutoscaler) -> None:
    with ThreadPoolExecutor(24) as pool:
        burst = [pool.submit(predict, stack.http_url, "1000") for _ in range(24)]
        counts = []
        while not all(f.done() for f in burst) and len(counts) < 60:
            counts.append(autoscaler.tick())
            time.sleep(1)
    assert [f.result().status_code for f in burst] == [200] * 24
    assert max(counts) >= 2, f"never scaled out: {counts}"
    workers_seen = {f.result().json()["worker"] for f in burst}
    assert len(workers_seen) >= 2, "the new workers took jobs of the burst"

    for _ in range(30):
        if autoscaler.tick() == 1 and len(running_workers(stack)) == 1:
            break
        time.sleep(1)
    assert len(running_workers(stack)) == 1, "back to min_replicas once idle"


def running_workers(stack: FlowiseStack) -> list:
    docker = wiring.docker_client(stack.settings)
    return [c for c in docker.compose.ps(services=[WORKERS]) if _running(c)]


def _running(container: Container) -> bool:
    try:
        return container.state.running
    except NoSuchContainer:  # removed between the listing and the look: a scale-in at work
        return False
