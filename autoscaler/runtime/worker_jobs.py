"""The jobs each worker container runs now, so that a scale-in picks idle workers and lets a
victim finish its jobs before it stops.

BullMQ's job locks name the worker that runs each active job by the worker's BullMQ id
(`BullMQQueue.jobs_by_worker`), and a Flowise worker logs its ids as it creates its BullMQ
workers (`Prediction Worker <id> created`, likewise Upsertion and Schedule; Flowise 3.1.4,
`commands/worker.js`). A container's log then maps it to its workers: read once per container,
as the ids last as long as its process. Talks to Redis and the Docker engine through what it
is handed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

import redis

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica
from autoscaler.signals.bullmq_reads import BullMQQueue

WORKER_CREATED = re.compile(r"\b(?:Prediction|Upsertion|Schedule) Worker (\S+) created")
STARTUP_LOG = timedelta(minutes=10)
"""How much of a container's log, from its start, is read for its worker ids: a worker that
takes jobs has logged them by then, and a long-lived worker's log of its jobs is left unread."""

Logs = Callable[[Replica, datetime], str]
"""A replica's log up to a moment."""


class WorkerJobs:
    """Jobs each worker container of a service runs now, by replica id."""

    def __init__(self, queues: Mapping[str, Sequence[BullMQQueue]], logs: Logs) -> None:
        """`queues`: the BullMQ queues each worker service takes jobs from."""
        self._queues = queues
        self._logs = logs
        self._worker_ids: dict[tuple[str, datetime], frozenset[str]] = {}

    def sees(self, service: str) -> bool:
        """The service takes a queue's jobs: its workers' jobs are looked for."""
        return bool(self._queues.get(service))

    def __call__(self, service: str, replicas: Sequence[Replica]) -> dict[str, int] | None:
        """Replica id -> the jobs it runs, for each replica whose workers are known; None when
        the service takes no queue's jobs, or Redis cannot tell."""
        queues = self._queues.get(service)
        if not queues:
            return None
        running: Counter[str] = Counter()
        try:
            for queue in queues:
                running.update(queue.jobs_by_worker())
        except redis.RedisError:
            return None
        jobs = {}
        for replica in replicas:
            ids = self._ids_of(replica)
            if ids:
                jobs[replica.id] = sum(running[worker] for worker in ids)
        return jobs

    def _ids_of(self, replica: Replica) -> frozenset[str]:
        """The BullMQ ids of the replica's workers, as its log names them; none yet (still
        starting) or none at all (its log unreadable, or a log level above info) is retried."""
        key = (replica.id, replica.started_at)
        if key not in self._worker_ids:
            try:
                log = self._logs(replica, replica.started_at + STARTUP_LOG)
            except ActuatorError:
                return frozenset()
            ids = frozenset(WORKER_CREATED.findall(log))
            if not ids:
                return ids
            self._worker_ids[key] = ids
        return self._worker_ids[key]
