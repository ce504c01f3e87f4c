"""The service model a trace is replayed through: replicas with job slots, and a queue.
Purely computational, no I/O here.

- Each replica has `concurrency` slots (K, a Flowise worker's WORKER_CONCURRENCY). A job holds
  one slot for its service time; jobs no free slot can take wait in a FIFO queue. Time runs in
  milliseconds, so a slot freed within a second takes the next waiting job at that moment.
- A replica asked for costs from that second on, but takes no job and is not reported ready
  until `startup_seconds` later.
- Scaling in removes starting replicas first, newest first, then ready ones, the idlest first
  (as compose-flowise's actuator chooses its victims). Their free slots go at once. A busy slot
  on a removed replica takes no new job and finishes its running one, the soonest-finishing
  jobs first; until they are done the service still pays for the replicas that hold them, as
  few as hold them all (busy slots / K, rounded up).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from autoscaler.simulation.workload import MS_PER_SECOND


@dataclass(frozen=True)
class ServiceModel:
    concurrency: int
    """Slots per replica: jobs one replica runs at once (K)."""
    startup_seconds: int
    """From asking for a replica to its taking jobs."""


@dataclass(frozen=True)
class ServiceView:
    """The service at the start of a second, as the daemon can observe it: compose's replica
    count and health checks, and BullMQ's keys."""

    second: int
    requested: int
    """Replicas asked for; removed ones still finishing their jobs are not among them."""
    ready: int
    """Replicas started and taking jobs."""
    waiting: int
    """Jobs queued that no slot has taken yet."""
    active: int
    """Jobs in slots: the mean over the second before, rounded, as a read at any moment of it
    sees on average (Little's law: arrival rate x service time)."""
    arrived: int
    """Every job added so far (BullMQ's id counter)."""
    completed: int
    """Every job finished so far."""
    completed_job_seconds: float
    """Their service times summed: a reader's mean service time of the jobs finished between
    two reads is the difference in this over the difference in `completed` (BullMQ's
    processedOn and finishedOn)."""


class _Running(NamedTuple):
    """Jobs that started together: ordered by when they finish."""

    finish_ms: int
    retiring: bool
    """On a removed replica: the slot goes when the job finishes."""
    jobs: int
    job_ms: int


class Service:
    """The replicas, their slots and the queue, advanced one second at a time."""

    def __init__(self, model: ServiceModel, replicas: int) -> None:
        self._model = model
        self._ready_at: list[int] = [0] * replicas  # ascending: the newest replica is last
        self._queue: deque[list[int]] = deque()  # [arrival second, jobs, job ms], oldest first
        self._running: list[_Running] = []  # a heap: the soonest to finish first
        self._busy = 0  # slots of requested replicas running a job
        self._retiring = 0  # slots of removed replicas running their last job
        self._waiting = 0
        self._arrived = 0
        self._completed = 0
        self._completed_ms = 0
        self._clock_ms = 0  # how far the busy slot time is counted
        self._busy_slot_ms = 0  # busy slot time so far in the current second
        self._active = 0  # jobs in slots, on average over the second before

    @property
    def requested(self) -> int:
        return len(self._ready_at)

    @property
    def billed(self) -> int:
        """Replicas paid for: those asked for, and the removed ones still finishing jobs."""
        return self.requested + math.ceil(self._retiring / self._model.concurrency)

    @property
    def waiting(self) -> int:
        """Jobs waiting for a slot."""
        return self._waiting

    def ready(self, second: int) -> int:
        """Replicas taking jobs in `second`."""
        return self._ready(second)

    @property
    def has_work(self) -> bool:
        return bool(self._waiting or self._busy or self._retiring)

    def view(self, second: int) -> ServiceView:
        return ServiceView(
            second=second,
            requested=self.requested,
            ready=self._ready(second),
            waiting=self._waiting,
            active=self._active,
            arrived=self._arrived,
            completed=self._completed,
            completed_job_seconds=self._completed_ms / MS_PER_SECOND,
        )

    def scale_to(self, replicas: int, second: int) -> None:
        if replicas >= self.requested:
            ready_at = second + self._model.startup_seconds
            self._ready_at.extend([ready_at] * (replicas - self.requested))
            return
        del self._ready_at[replicas:]
        surplus = self._busy - self._slots(second)
        if surplus > 0:
            self._retire(surplus)

    def run_second(self, second: int, arrivals: int, job_ms: int) -> list[tuple[int, int]]:
        """Queue the second's arrivals, then let the slots work until the second ends: free
        slots take waiting jobs at its start, and each slot freed within it takes the next one
        at that moment. A slot freed as the second ends takes its next job in the next second.

        Returns (seconds waited, jobs) for the jobs started.
        """
        if arrivals:
            self._queue.append([second, arrivals, job_ms])
            self._waiting += arrivals
            self._arrived += arrivals
        started: list[tuple[int, int]] = []
        start_ms, end_ms = second * MS_PER_SECOND, (second + 1) * MS_PER_SECOND
        self._start(second, start_ms, self._slots(second) - self._busy, started)
        while self._running and self._running[0].finish_ms <= end_ms:
            done = heapq.heappop(self._running)
            self._advance_clock(done.finish_ms)
            self._finish(done)
            if not done.retiring and done.finish_ms < end_ms:
                self._start(second, done.finish_ms, done.jobs, started)
        self._advance_clock(end_ms)
        self._active = round(self._busy_slot_ms / MS_PER_SECOND)
        self._busy_slot_ms = 0
        return started

    def oldest_arrival(self) -> int | None:
        """The second the oldest waiting job arrived in, or None with nothing waiting."""
        return self._queue[0][0] if self._queue else None

    def _ready(self, second: int) -> int:
        return bisect_right(self._ready_at, second)

    def _slots(self, second: int) -> int:
        return self._ready(second) * self._model.concurrency

    def _start(self, second: int, at_ms: int, slots: int, started: list[tuple[int, int]]) -> None:
        """Up to `slots` waiting jobs take a slot at `at_ms`, oldest first."""
        while slots > 0 and self._queue:
            batch = self._queue[0]
            arrived_at, jobs, job_ms = batch
            taken = min(slots, jobs)
            heapq.heappush(self._running, _Running(at_ms + job_ms, False, taken, job_ms))
            started.append((second - arrived_at, taken))
            self._busy += taken
            self._waiting -= taken
            slots -= taken
            batch[1] -= taken
            if batch[1] == 0:
                self._queue.popleft()

    def _finish(self, done: _Running) -> None:
        if done.retiring:
            self._retiring -= done.jobs
        else:
            self._busy -= done.jobs
        self._completed += done.jobs
        self._completed_ms += done.jobs * done.job_ms

    def _retire(self, slots: int) -> None:
        """Move `slots` busy slots, the soonest to finish first, to removed replicas."""
        self._busy -= slots
        self._retiring += slots
        kept: list[_Running] = []
        while slots:
            running = heapq.heappop(self._running)
            if running.retiring:
                kept.append(running)
                continue
            moved = min(slots, running.jobs)
            kept.append(running._replace(retiring=True, jobs=moved))
            if running.jobs > moved:
                kept.append(running._replace(jobs=running.jobs - moved))
            slots -= moved
        for running in kept:
            heapq.heappush(self._running, running)

    def _advance_clock(self, to_ms: int) -> None:
        """Count the busy slot time up to `to_ms`, for the mean of active jobs."""
        self._busy_slot_ms += (self._busy + self._retiring) * (to_ms - self._clock_ms)
        self._clock_ms = to_ms
