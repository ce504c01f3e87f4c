"""A BullMQ queue's depth and rates, read from Redis in one pipelined round trip."""

from __future__ import annotations

import redis

from autoscaler.metrics import QueueDepth, QueueLoad, Unavailable, queue_load


class BullMQQueue:
    """One BullMQ queue, e.g. Flowise's `flowise-queue-prediction` under the prefix `bull`."""

    def __init__(self, client: redis.Redis, queue: str, prefix: str = "bull") -> None:
        self.queue = queue
        self._client = client
        self._key = f"{prefix}:{queue}"
        self._previous: tuple[float, QueueDepth] | None = None

    def depth(self) -> QueueDepth | Unavailable:
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
        try:
            waiting, paused, prioritized, delayed, children, active, created, meta = pipe.execute()
        except redis.RedisError as error:
            return Unavailable(f"redis: {type(error).__name__}: {error}")
        if created is None and not meta:
            return Unavailable(
                f"queue {key} does not exist (no {key}:meta, no {key}:id): "
                "check QUEUE_NAME and the key prefix"
            )
        return QueueDepth(
            waiting=waiting,
            paused=paused,
            prioritized=prioritized,
            delayed=delayed,
            waiting_children=children,
            active=active,
            jobs_created=int(created or 0),
        )

    def load(self, now: float) -> QueueLoad | Unavailable:
        """The depth now, with the arrival and completion rates since the previous load()."""
        depth = self.depth()
        if isinstance(depth, Unavailable):
            return depth
        sample = (now, depth)
        load = queue_load(self._previous, sample)
        self._previous = sample
        return load
