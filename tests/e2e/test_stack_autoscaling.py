"""A burst of predictions scales the workers out, and back in once it is worked off: the
policy's decide() on real BullMQ readings (autoscaler.sources.bullmq), acted on by the Scaler,
on the product's stack. The daemon's own loop is tested by its own suite."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flowise_stack import FlowiseStack, predict, running_flowise_stack
from harness import HarnessError

from autoscaler.config import ServicePolicy
from autoscaler.policy import Observation, ServiceHistory, decide, remember
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
    """What a daemon tick does for the workers: read the queue, decide, scale, remember."""

    def __init__(self, stack: FlowiseStack) -> None:
        settings = stack.settings
        self._scaler = wiring.transaction(settings)
        self._queue = wiring.queue_source(settings, wiring.redis_client(settings), SIGNAL.queue)
        self._history = ServiceHistory()

    def tick(self) -> int:
        """The worker count after this tick."""
        now = time.time()
        readings = {SIGNAL.name: self._queue.load(now)}
        snapshot = self._scaler.snapshot()
        workers = snapshot.get(WORKERS, [])
        current = sum(r.state == "running" for r in workers)
        observation = Observation(current, sum(r.routable for r in workers), readings)
        decision = decide(WORKERS, POLICY, observation, self._history, now)
        if decision.change:
            self._scaler.scale(WORKERS, decision.replicas, snapshot)
        self._history = remember(self._history, decision, POLICY, now, bool(decision.change))
        return decision.replicas


def test_a_burst_scales_the_workers_out_and_back_in(tmp_path: Path) -> None:
    try:
        with running_flowise_stack(tmp_path, WORKER_CONCURRENCY="2") as stack:
            autoscaler = WorkerAutoscaler(stack)
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
    except HarnessError as error:
        pytest.fail(str(error))


def running_workers(stack: FlowiseStack) -> list:
    docker = wiring.docker_client(stack.settings)
    return [c for c in docker.compose.ps(services=[WORKERS]) if c.state.running]
