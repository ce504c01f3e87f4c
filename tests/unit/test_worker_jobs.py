"""Which worker container runs which jobs: BullMQ's locks name the worker by its id, and the
container's log names its workers (the lines as Flowise 3.1.4's `flowise worker` writes them)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import redis
from test_scaling import container

from autoscaler.actuators.errors import ActuatorError
from autoscaler.runtime.worker_jobs import WorkerJobs

FLOWISE_LOG = """\
2026-12-01 04:49:04 [INFO]: Starting Flowise Worker...
2026-12-01 04:49:04 [INFO]: Prediction Worker 63abe008-e7d0-4c81-8a5f-e7fd3fa9a18c created
2026-12-01 04:49:04 [INFO]: Upsertion Worker 4ac4d498-7847-490e-894d-2faf2bf30371 created
2026-12-01 04:49:04 [INFO]: Schedule Worker 8d78f10a-db73-4d91-973a-5b3403021782 created
"""
PREDICTION, UPSERTION = (
    "63abe008-e7d0-4c81-8a5f-e7fd3fa9a18c",
    "4ac4d498-7847-490e-894d-2faf2bf30371",
)
STARTING_LOG = "2026-12-01 04:49:04 [INFO]: Starting Flowise Worker...\n"


class Queue:
    def __init__(self, by_worker: dict[str, int], fails: bool = False) -> None:
        self.by_worker = by_worker
        self.fails = fails

    def jobs_by_worker(self) -> Counter[str]:
        if self.fails:
            raise redis.ConnectionError("Connection refused")
        return Counter(self.by_worker)


def logs_of(texts: dict[str, str]):
    read: list[str] = []

    def logs(replica, until: datetime) -> str:
        read.append(replica.id)
        if replica.id not in texts:
            raise ActuatorError("docker container logs", "no such container")
        return texts[replica.id]

    return logs, read


def test_each_container_runs_the_jobs_its_workers_hold_on_every_queue() -> None:
    one, two = container("flowise-worker", 1), container("flowise-worker", 2)
    logs, read = logs_of({one.id: FLOWISE_LOG, two.id: STARTING_LOG})
    queues = [Queue({PREDICTION: 3, "someone-else": 2}), Queue({UPSERTION: 1})]
    jobs = WorkerJobs({"flowise-worker": queues}, logs)
    assert jobs("flowise-worker", [one, two]) == {one.id: 4}, "two is not a worker yet: unseen"
    assert jobs("flowise-worker", [one, two]) == {one.id: 4}
    assert read == [one.id, two.id, two.id], "a container's ids are read once, once logged"


def test_jobs_unseen_are_none_not_zero() -> None:
    one = container("flowise-worker", 1)
    logs, _ = logs_of({one.id: FLOWISE_LOG})
    jobs = WorkerJobs({"flowise-worker": [Queue({}, fails=True)], "flowise": []}, logs)
    assert jobs("flowise-worker", [one]) is None, "Redis down"
    assert jobs("flowise", [container("flowise", 1)]) is None, "a service that takes no jobs"
    assert WorkerJobs({"flowise-worker": [Queue({})]}, logs)("flowise-worker", [one]) == {one.id: 0}


def test_a_restarted_container_is_read_again() -> None:
    one = container("flowise-worker", 1)
    logs, read = logs_of({one.id: FLOWISE_LOG})
    jobs = WorkerJobs({"flowise-worker": [Queue({PREDICTION: 1})]}, logs)
    jobs("flowise-worker", [one])
    restarted = replace(one, started_at=datetime(2027, 1, 1, tzinfo=UTC))
    jobs("flowise-worker", [restarted])
    assert read == [one.id, one.id]


def test_it_sees_the_jobs_of_the_services_that_take_a_queue_s_jobs_without_reading() -> None:
    logs, read = logs_of({})
    jobs = WorkerJobs({"flowise-worker": [Queue({}, fails=True)], "flowise": []}, logs)
    assert jobs.sees("flowise-worker") and not jobs.sees("flowise")
    assert not jobs.sees("another") and read == []
