"""The replicas as last listed, listed again only when the engine reports a change to one of the
project's containers (`docker events`: created, started, died, health changed, removed), after
the daemon acted, or once a full period has passed. A tick every second or two then costs no
`docker inspect` at all while nothing changes.

Talks to the Docker engine: the event stream in a thread of its own, and the listing it is given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from autoscaler.actuators.replicas import Snapshot
from autoscaler.stopping import StopSignal

EVENT_WAIT_SECONDS = 60.0
"""How long one `docker events` call follows the stream before it is asked again: a stop is
noticed within this (meanwhile the call goes on, unread), and no event is lost between two calls
(each starts where the last ended). Each call starts a docker command: the longer, the fewer."""
RETRY_SECONDS = 5.0
"""After the stream failed (the engine restarted): list on every tick meanwhile."""

Events = Callable[[datetime, datetime], Iterable[str]]
"""The actions (`start`, `health_status: healthy`, ...) of `docker events` of the project's
containers between two moments."""

REPLICA_CHANGES = frozenset(
    {"create", "start", "restart", "die", "destroy", "pause", "unpause", "rename", "update"}
    | {"health_status"}
)
"""The actions that change a replica as listed. Not `exec_*`: every healthcheck probe and each of
the daemon's own reads in a container is one, and would have the replicas listed at every tick."""


def changes_a_replica(action: str) -> bool:
    return action.split(":")[0] in REPLICA_CHANGES


class ReplicaWatch:
    def __init__(
        self,
        list_replicas: Callable[[], Snapshot],
        events: Events,
        full_seconds: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._list = list_replicas
        self._events = events
        self._full_seconds = full_seconds
        self._monotonic = monotonic
        self._closed = StopSignal()
        self._changed = threading.Event()
        self._following = threading.Event()
        self._snapshot: Snapshot | None = None
        self._listed_at = float("-inf")

    def start(self) -> None:
        threading.Thread(target=self._follow, name="docker-events", daemon=True).start()

    def close(self) -> None:
        """Stop following the events (within EVENT_WAIT_SECONDS); list on every call."""
        self._closed.request()
        self._following.clear()

    def current(self) -> Snapshot:
        """The replicas now: listed again when anything may have changed."""
        if self._stale():
            self._changed.clear()  # before the listing: a change during it lists again
            self._snapshot = self._list()
            self._listed_at = self._monotonic()
        assert self._snapshot is not None
        return self._snapshot

    def invalidate(self) -> None:
        """The daemon acted: the next `current` lists afresh."""
        self._changed.set()

    def _stale(self) -> bool:
        return (
            self._snapshot is None
            or self._changed.is_set()
            or not self._following.is_set()
            or self._monotonic() - self._listed_at >= self._full_seconds
        )

    def _follow(self) -> None:
        since = datetime.now()
        while not self._closed.requested:
            until = since + timedelta(seconds=EVENT_WAIT_SECONDS)
            try:
                self._following.set()
                for action in self._events(since, until):
                    if changes_a_replica(action):
                        self._changed.set()
            except Exception:  # noqa: BLE001 (the engine went away: list on every tick meanwhile)
                self._following.clear()
                if self._closed.wait(RETRY_SECONDS):
                    return
                self._changed.set()
                since = datetime.now()
                continue
            since = until
