"""One stop signal, passed wherever code waits, so that a stop never waits out a drain."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from autoscaler.errors import Interrupted


class StopSignal:
    """Set once (SIGTERM, SIGINT, Ctrl-C); every `pause` in progress ends at once."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep `seconds`, or less when a stop is requested: True when it was."""
        return self._event.wait(seconds)

    def pause(self, seconds: float) -> None:
        """Sleep `seconds`, or raise Interrupted as soon as a stop is requested."""
        if self._event.wait(seconds):
            raise Interrupted("stopping: the wait was cut short")

    def wait_for_stop(self) -> None:
        """Block until a stop is requested (signal handlers still run meanwhile)."""
        self._event.wait()


@contextmanager
def stopped_by_ctrl_c(stop: StopSignal) -> Iterator[None]:
    """For the block, Ctrl-C (SIGINT) requests `stop` instead of raising wherever the code is:
    the wait in progress ends with Interrupted, and what it left half done is undone."""
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: stop.request())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
