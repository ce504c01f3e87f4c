"""The service model a trace is replayed through. Purely computational, no I/O here.

- Each ready replica completes `capacity` jobs per second: it works on up to that many jobs at
  a time, each for one second.
- A replica asked for becomes ready `startup_seconds` later. A removed replica stops at once;
  the newest goes first, as with `docker compose up --scale`.
- Jobs no ready replica can take wait in a FIFO queue.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceModel:
    capacity: float
    """Jobs per second one ready replica completes."""
    startup_seconds: int
    """From asking for a replica to its taking work."""


@dataclass(frozen=True)
class ServiceView:
    """The service at the start of a second, as a scaler's metrics show it."""

    second: int
    requested: int
    ready: int
    backlog: int
    in_service: int
    """Jobs worked on during the second before."""
    arrived: int
    """Every job that arrived so far."""


class Service:
    """The replicas and the queue, advanced one second at a time."""

    def __init__(self, model: ServiceModel, replicas: int) -> None:
        self._model = model
        self._ready_at: list[int] = [0] * replicas  # ascending: the newest replica is last
        self._queue: deque[list[int]] = deque()  # [arrival second, jobs], oldest first
        self._backlog = 0
        self._in_service = 0
        self._arrived = 0
        self._unused_capacity = 0.0  # a fraction of a job carried over while jobs wait

    @property
    def requested(self) -> int:
        return len(self._ready_at)

    def view(self, second: int) -> ServiceView:
        return ServiceView(
            second=second,
            requested=self.requested,
            ready=self._ready(second),
            backlog=self._backlog,
            in_service=self._in_service,
            arrived=self._arrived,
        )

    def scale_to(self, replicas: int, second: int) -> None:
        if replicas > self.requested:
            ready_at = second + self._model.startup_seconds
            self._ready_at.extend([ready_at] * (replicas - self.requested))
        else:
            del self._ready_at[replicas:]

    def run_second(self, second: int, arrivals: int) -> list[tuple[int, int]]:
        """Queue this second's arrivals and serve what the ready replicas can, oldest first.

        Returns (seconds waited, jobs) for the jobs served.
        """
        if arrivals:
            self._queue.append([second, arrivals])
            self._backlog += arrivals
            self._arrived += arrivals
        capacity = self._ready(second) * self._model.capacity + self._unused_capacity
        served = self._serve(second, min(int(capacity + 1e-9), self._backlog))
        jobs = sum(count for _, count in served)
        self._backlog -= jobs
        self._in_service = jobs
        self._unused_capacity = capacity - jobs if self._backlog else 0.0
        return served

    def oldest_arrival(self) -> int | None:
        """The second the oldest waiting job arrived in, or None with nothing waiting."""
        return self._queue[0][0] if self._queue else None

    def waiting(self) -> list[tuple[int, int]]:
        """(arrival second, jobs) still waiting, oldest first."""
        return [(arrived_at, jobs) for arrived_at, jobs in self._queue]

    def _ready(self, second: int) -> int:
        return bisect_right(self._ready_at, second)

    def _serve(self, second: int, jobs: int) -> list[tuple[int, int]]:
        served = []
        while jobs:
            batch = self._queue[0]
            taken = min(jobs, batch[1])
            served.append((second - batch[0], taken))
            batch[1] -= taken
            jobs -= taken
            if not batch[1]:
                self._queue.popleft()
        return served
