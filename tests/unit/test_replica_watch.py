"""The replicas listed again only when the engine reports a change, after an action, or once a
full period has passed; on every call while the event stream is down."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime

from autoscaler.runtime.replica_watch import ReplicaWatch


class Engine:
    """Counts the listings; events are put on a queue the watch's stream reads."""

    def __init__(self) -> None:
        self.listings = 0
        self.events: queue.Queue[str | Exception] = queue.Queue()
        self.following = threading.Event()

    def list_replicas(self) -> dict:
        self.listings += 1
        return {"flowise-worker": []}

    def stream(self, since: datetime, until: datetime) -> Iterator[str]:
        self.following.set()
        while True:
            event = self.events.get()
            if isinstance(event, Exception):
                raise event
            yield event


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def watching(engine: Engine, clock: Clock) -> ReplicaWatch:
    watch = ReplicaWatch(engine.list_replicas, engine.stream, full_seconds=60, monotonic=clock)
    watch.start()
    assert engine.following.wait(5), "the event stream was not followed"
    return watch


def eventually(condition, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_no_event_no_listing_until_the_full_period() -> None:
    engine, clock = Engine(), Clock()
    watch = watching(engine, clock)
    for _ in range(5):
        watch.current()
    assert engine.listings == 1
    clock.now = 60
    watch.current()
    assert engine.listings == 2
    watch.close()


def test_an_event_lists_again_once() -> None:
    engine, clock = Engine(), Clock()
    watch = watching(engine, clock)
    watch.current()
    engine.events.put("health_status: healthy")
    assert eventually(lambda: watch.current() is not None and engine.listings == 2)
    watch.current()
    assert engine.listings == 2
    watch.close()


def test_a_command_run_in_a_container_lists_nothing_again() -> None:
    """Each healthcheck probe is an exec: listing on those would list at nearly every tick."""
    engine, clock = Engine(), Clock()
    watch = watching(engine, clock)
    watch.current()
    for action in ("exec_create: curl -fsS http://127.0.0.1:3000/api/v1/ping", "exec_start: curl",
                   "exec_die", "unpause"):  # fmt: skip
        engine.events.put(action)
    assert eventually(lambda: watch.current() is not None and engine.listings == 2)
    watch.current()
    assert engine.listings == 2
    watch.close()


def test_after_an_action_it_lists_afresh() -> None:
    engine, clock = Engine(), Clock()
    watch = watching(engine, clock)
    watch.current()
    watch.invalidate()
    watch.current()
    assert engine.listings == 2
    watch.close()


def test_with_the_event_stream_down_it_lists_every_time() -> None:
    engine, clock = Engine(), Clock()
    watch = watching(engine, clock)
    engine.events.put(RuntimeError("Cannot connect to the Docker daemon"))
    assert eventually(lambda: not watch._following.is_set())
    watch.current()
    watch.current()
    assert engine.listings == 2
    watch.close()


def test_closed_it_lists_every_time() -> None:
    engine, clock = Engine(), Clock()
    watch = watching(engine, clock)
    watch.close()
    watch.current()
    watch.current()
    assert engine.listings == 2
