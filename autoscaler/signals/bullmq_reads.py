"""What a BullMQ queue holds, read from Redis through the client it is handed: the depth in one
pipelined round trip, the rates and the jobs' run time from two reads, the workers registered
on it (CLIENT LIST), the jobs each worker runs (their locks) and the jobs that stalled (its
event stream). The `bullmq_queue` signal sizes from it."""

from __future__ import annotations

import base64
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any, ClassVar

from autoscaler.signals.kind import Figure
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
    last_finished_ms: int | None = None
    """When the newest finished job finished (its score in `completed` or `failed`: finishedOn,
    in ms of the workers' clock); None when neither holds a job. Two reads' values bound the jobs
    that finished between them, with no clock of ours or of Redis's to compare."""

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
    """Mean run time (finishedOn - processedOn) of the jobs that finished, completed or failed,
    since the previous read (the newest JOB_SAMPLE of them); None on the first read, when none
    finished, or when their records are gone."""
    workers: int | None = None
    """Worker processes registered on the queue now (their BullMQ connections in CLIENT LIST);
    None when Redis does not tell."""
    concurrency: int | None = None
    """Jobs one worker runs at once (Flowise's WORKER_CONCURRENCY, as the stack sets it); None
    when unknown."""
    stalled: int | None = None
    """Jobs that stalled since the previous read: a worker lost them (it died, or was stopped
    before they finished), and BullMQ put them back to run again, or failed them when they
    stalled once too often. None on the first read."""
    timed_jobs: int | None = None
    """How many finished jobs `mean_job_seconds` is the mean of (at most JOB_SAMPLE); None
    when it is None."""

    FIGURES: ClassVar[Mapping[str, Figure]] = {
        "backlog": Figure("queue_backlog_jobs", "Jobs ready to run that no worker has taken yet"),
        "active": Figure("queue_active_jobs", "Jobs the workers are running"),
        "arrival_rate": Figure(
            "queue_arrivals_per_second", "Jobs added per second since the previous read"
        ),
        "completion_rate": Figure(
            "queue_completions_per_second", "Jobs finished per second since the previous read"
        ),
        "mean_job_seconds": Figure(
            "queue_job_run_seconds", "Mean run time of the jobs finished since the previous read"
        ),
        "workers": Figure("queue_workers", "Worker processes registered on the queue"),
    }

    def figures(self) -> Mapping[str, float | None]:
        return {
            "backlog": self.backlog,
            "active": self.active,
            "arrival_rate": self.arrival_rate,
            "completion_rate": self.completion_rate,
            "mean_job_seconds": self.mean_job_seconds,
            "workers": self.workers,
            "stalled": self.stalled,
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


# Where BullMQ keeps finished jobs, each a sorted set scored by finishedOn. A failed job counts
# like a completed one: it held a worker's slot for as long as it ran, and a flow that fails by
# timing out is just the slow job the sizing must see.
FINISHED = ("completed", "failed")

# At most this many of the jobs finished since the previous read are timed (the newest): enough
# for a mean, and two short round trips however many finished.
JOB_SAMPLE = 50

# At most this many entries of the event stream are read at once: the rest at the next read.
EVENT_SAMPLE = 5000
# BullMQ's events for a job that stalled: moved back to wait ('stalled'), or failed for having
# stalled more than maxStalledCount times (moveStalledJobsToWait).
_STALLED_FAILURE = "job stalled more than allowable limit"

# How a Redis that will not list its clients says so: the command renamed away or disabled (some
# managed services), or an ACL user without +client|list (NOPERM; redis-py keeps the words only).
_CLIENT_LIST_REFUSED = ("unknown command", "disabled", "noperm", "no permissions")


class ClientList:
    """Redis's CLIENT LIST, read once for all the queues that count their workers at one moment:
    the costliest read of a tick (every connection of every Flowise replica, parsed)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._last: tuple[float, list[dict[str, str]]] | None = None

    def at(self, now: float) -> list[dict[str, str]]:
        if self._last is None or self._last[0] != now:
            self._last = (now, self._client.client_list())
        return self._last[1]


class BullMQQueue:
    """One BullMQ queue, e.g. Flowise's `flowise-queue-prediction` under the prefix `bull`."""

    source = "redis"

    def __init__(
        self,
        client: Any,
        queue: str,
        prefix: str = "bull",
        concurrency: int | None = None,
        clients: ClientList | None = None,
    ) -> None:
        """`concurrency`: the jobs one worker runs at once, as the stack or the config says: Redis
        does not know it (a worker keeps it to itself). `clients`: CLIENT LIST as shared with the
        other queues read at the same moment."""
        self.queue = queue
        self.concurrency = concurrency
        self._client = client
        self._clients = clients
        self._key = f"{prefix}:{queue}"
        # A BullMQ Worker names its connections after the queue: Node BullMQ (Flowise) as
        # `<prefix>:<base64 of the queue>`, the Python port as `<prefix>:<queue>`; either with
        # `:w:<name>` when the worker has a name.
        encoded = base64.b64encode(queue.encode()).decode("ascii")
        self._worker_names = (f"{prefix}:{encoded}", self._key)
        self.description = f"redis queue {self._key}"
        self._previous: PreviousSample[QueueDepth] = PreviousSample()
        self._last_event: bytes | str | None = None

    def depth(self) -> QueueDepth:
        """The queue's keys, and when its newest finished job finished, in one pipelined round
        trip. A queue no job was added to yet has no keys: Redis answered, so it is empty."""
        key = self._key
        pipe = self._client.pipeline(transaction=False)
        pipe.llen(f"{key}:wait")
        pipe.llen(f"{key}:paused")
        pipe.zcard(f"{key}:prioritized")
        pipe.zcard(f"{key}:delayed")
        pipe.zcard(f"{key}:waiting-children")
        pipe.llen(f"{key}:active")
        pipe.get(f"{key}:id")
        for finished in FINISHED:
            pipe.zrevrange(f"{key}:{finished}", 0, 0, withscores=True)
        waiting, paused, prioritized, delayed, children, active, created, *newest = pipe.execute()
        jobs_created = int(created or 0)
        last_finished = max((int(score) for _, score in chain(*newest)), default=None)
        return QueueDepth(
            waiting, paused, prioritized, delayed, children, active, jobs_created, last_finished
        )

    def read(self, now: float) -> QueueLoad:
        """The depth now, with the arrival and completion rates and the jobs' mean run time since
        the previous read, and the workers registered now."""
        depth = self.depth()
        previous = self._previous.swap(now, depth)
        timed = self._run_seconds_since(previous, depth)
        return replace(
            queue_load(previous, (now, depth)),
            mean_job_seconds=statistics.fmean(timed) if timed else None,
            timed_jobs=len(timed) if timed else None,
            workers=self.workers(now),
            concurrency=self.concurrency,
            stalled=self.stalled_since_last_read(),
        )

    def jobs_by_worker(self) -> Counter[str]:
        """The jobs each worker runs now, by the worker's BullMQ id, in two round trips: a job
        in `active` holds a lock whose value is the token of the worker running it,
        `<worker id>:<n>` (Node and Python BullMQ alike). A job whose lock is gone (it stalled,
        or finished meanwhile) is nobody's."""
        job_ids = self._client.lrange(f"{self._key}:active", 0, -1)
        pipe = self._client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.get(f"{self._key}:{_text(job_id)}:lock")
        tokens = [_text(token) for token in pipe.execute() if token is not None]
        return Counter(token.rsplit(":", 1)[0] for token in tokens)

    def stalled_since_last_read(self) -> int | None:
        """Jobs that stalled since the previous call, from BullMQ's event stream
        (`<prefix>:<queue>:events`, which Flowise caps at 10000 entries: far more than the
        events between two reads); None on the first call, which only marks where to start."""
        events = f"{self._key}:events"
        if self._last_event is None:
            newest = self._client.xrevrange(events, count=1)
            self._last_event = newest[0][0] if newest else b"0-0"
            return None
        entries = self._client.xrange(events, min=f"({_text(self._last_event)}", count=EVENT_SAMPLE)
        if entries:
            self._last_event = entries[-1][0]
        return sum(_stalled(fields) for _, fields in entries)

    def _run_seconds_since(
        self, previous: tuple[float, QueueDepth] | None, depth: QueueDepth
    ) -> list[float]:
        """The run times of the jobs that finished after the previous read's newest and up to
        this read's newest (the newest JOB_SAMPLE of them): none read twice, and no round trip
        at all when none finished."""
        if previous is None or depth.last_finished_ms is None:
            return []
        after = previous[1].last_finished_ms
        if after is not None and depth.last_finished_ms <= after:
            return []
        return self._run_seconds(self._finished_between(after, depth.last_finished_ms))

    def _finished_between(self, after: int | None, until: int) -> list[bytes | str]:
        """The ids of the newest JOB_SAMPLE jobs that finished in (after, until], in one round
        trip."""
        pipe = self._client.pipeline(transaction=False)
        lowest = "-inf" if after is None else f"({after}"
        for finished in FINISHED:
            key = f"{self._key}:{finished}"
            pipe.zrevrangebyscore(key, until, lowest, start=0, num=JOB_SAMPLE, withscores=True)
        newest = sorted(chain(*pipe.execute()), key=lambda job: job[1], reverse=True)
        return [job_id for job_id, _ in newest[:JOB_SAMPLE]]

    def _run_seconds(self, job_ids: list[bytes | str]) -> list[float]:
        """Each job's finishedOn - processedOn from its hash, in one round trip; a job whose hash
        is gone (REMOVE_ON_COUNT or REMOVE_ON_AGE took it meanwhile) is left out."""
        pipe = self._client.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hmget(f"{self._key}:{_text(job_id)}", "processedOn", "finishedOn")
        return [
            (int(finished) - int(processed)) / 1000
            for processed, finished in pipe.execute()
            if processed is not None and finished is not None
        ]

    def workers(self, now: float) -> int | None:
        """Worker processes registered on the queue now, as BullMQ's own `getWorkers` finds them
        (CLIENT LIST), counted by the host they connect from: one worker holds two connections
        (its commands and its blocking wait), and each worker container has its own address
        (workers that share one, on one host or behind a NAT, count once). None when Redis
        refuses CLIENT LIST: the rest of the read stands without it."""
        try:
            clients = self._clients.at(now) if self._clients else self._client.client_list()
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


def _stalled(fields: Mapping[bytes | str, bytes | str]) -> bool:
    values = {_text(key): _text(value) for key, value in fields.items()}
    event = values.get("event")
    return event == "stalled" or (
        event == "failed" and values.get("failedReason") == _STALLED_FAILURE
    )


def _text(value: bytes | str) -> str:
    """A value as redis-py returns it, with or without `decode_responses`."""
    return value.decode() if isinstance(value, bytes) else value
