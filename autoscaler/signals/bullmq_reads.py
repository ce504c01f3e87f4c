"""What a BullMQ queue holds, read from Redis through the client it is handed: the depth in one
pipelined round trip, the rates from two reads, and the workers registered on it (CLIENT LIST).
The `bullmq_queue` signal sizes from it."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from autoscaler.policy import Unavailable
from autoscaler.signals.sampling import PreviousSample


@dataclass(frozen=True)
class QueueDepth:
    """One read of a BullMQ queue's keys."""

    waiting: int
    paused: int
    prioritized: int
    delayed: int
    waiting_children: int
    active: int
    jobs_created: int
    """BullMQ's `<prefix>:<queue>:id` counter: it only grows, by one per job added."""

    @property
    def backlog(self) -> int:
        """Jobs ready to run that no worker has taken yet."""
        return self.waiting + self.paused + self.prioritized


@dataclass(frozen=True)
class QueueLoad:
    """A queue's backlog and work in progress, with its rates since the previous read."""

    backlog: int
    active: int
    arrival_rate: float | None
    """Jobs added per second since the previous read; None on the first read."""
    completion_rate: float | None
    """Jobs finished per second since the previous read; None on the first read."""
    mean_job_seconds: float | None = None
    """Mean service time (finishedOn - processedOn) of the jobs finished since the previous
    read; None when none finished or it could not be read."""
    workers: int | None = None
    """Worker processes registered on the queue now (their BullMQ connections in CLIENT LIST);
    None when Redis does not tell."""
    concurrency: int | None = None
    """Jobs one worker runs at once (Flowise's WORKER_CONCURRENCY, as the stack sets it); None
    when unknown."""

    def figures(self) -> Mapping[str, float | None]:
        return {
            "backlog": self.backlog,
            "active": self.active,
            "arrival_rate": self.arrival_rate,
            "completion_rate": self.completion_rate,
        }


def queue_load(
    previous: tuple[float, QueueDepth] | None, current: tuple[float, QueueDepth]
) -> QueueLoad:
    """Backlog, work in progress and rates from two timed reads of a queue."""
    now, depth = current
    load = QueueLoad(depth.backlog, depth.active, arrival_rate=None, completion_rate=None)
    if previous is None or now <= previous[0]:
        return load
    then, before = previous
    elapsed = now - then
    arrived = depth.jobs_created - before.jobs_created
    if arrived < 0:  # the queue was obliterated and its counter started again
        return load
    queued_more = (depth.backlog + depth.active) - (before.backlog + before.active)
    return QueueLoad(
        depth.backlog,
        depth.active,
        arrival_rate=arrived / elapsed,
        completion_rate=max(0, arrived - queued_more) / elapsed,
    )


# How a Redis that will not list its clients says so: the command renamed away or disabled (some
# managed services), or an ACL user without +client|list (NOPERM; redis-py keeps the words only).
_CLIENT_LIST_REFUSED = ("unknown command", "disabled", "noperm", "no permissions")


class BullMQQueue:
    """One BullMQ queue, e.g. Flowise's `flowise-queue-prediction` under the prefix `bull`."""

    source = "redis"

    def __init__(
        self, client: Any, queue: str, prefix: str = "bull", concurrency: int | None = None
    ) -> None:
        """`concurrency`: the jobs one worker runs at once, as the stack or the config says: Redis
        does not know it (a worker keeps it to itself)."""
        self.queue = queue
        self.concurrency = concurrency
        self._client = client
        self._key = f"{prefix}:{queue}"
        # A BullMQ Worker names its connections after the queue: Node BullMQ (Flowise) as
        # `<prefix>:<base64 of the queue>`, the Python port as `<prefix>:<queue>`; either with
        # `:w:<name>` when the worker has a name.
        encoded = base64.b64encode(queue.encode()).decode("ascii")
        self._worker_names = (f"{prefix}:{encoded}", self._key)
        self.description = f"redis queue {self._key}"
        self._previous: PreviousSample[QueueDepth] = PreviousSample()

    def depth(self) -> QueueDepth | Unavailable:
        """The queue's keys in one pipelined round trip; Unavailable when the queue does not
        exist (a wrong QUEUE_NAME or prefix would otherwise read as an empty queue)."""
        key = self._key
        pipe = self._client.pipeline(transaction=False)
        pipe.llen(f"{key}:wait")
        pipe.llen(f"{key}:paused")
        pipe.zcard(f"{key}:prioritized")
        pipe.zcard(f"{key}:delayed")
        pipe.zcard(f"{key}:waiting-children")
        pipe.llen(f"{key}:active")
        pipe.get(f"{key}:id")
        pipe.exists(f"{key}:meta")
        waiting, paused, prioritized, delayed, children, active, created, meta = pipe.execute()
        if created is None and not meta:
            return Unavailable(
                f"queue {key} does not exist (no {key}:meta, no {key}:id): "
                "check QUEUE_NAME and the key prefix",
                self.source,
            )
        return QueueDepth(
            waiting, paused, prioritized, delayed, children, active, int(created or 0)
        )

    def read(self, now: float) -> QueueLoad | Unavailable:
        """The depth now, with the arrival and completion rates since the previous read, and the
        workers registered now."""
        depth = self.depth()
        if isinstance(depth, Unavailable):
            return depth
        load = queue_load(self._previous.swap(now, depth), (now, depth))
        return replace(load, workers=self.workers(), concurrency=self.concurrency)

    def workers(self) -> int | None:
        """Worker processes registered on the queue now, as BullMQ's own `getWorkers` finds them
        (CLIENT LIST), counted by the host they connect from: one worker holds two connections
        (its commands and its blocking wait), and each worker container has its own address
        (workers that share one, on one host or behind a NAT, count once). None when Redis
        refuses CLIENT LIST: the rest of the read stands without it."""
        try:
            clients = self._client.client_list()
        except Exception as error:
            if any(words in str(error).lower() for words in _CLIENT_LIST_REFUSED):
                return None
            raise
        hosts = {c["addr"].rsplit(":", 1)[0] for c in clients if self._is_worker(c["name"])}
        return len(hosts)

    def _is_worker(self, client_name: str) -> bool:
        return any(
            client_name == name or client_name.startswith(f"{name}:w:")
            for name in self._worker_names
        )
