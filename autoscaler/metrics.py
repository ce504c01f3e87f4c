"""What the metric sources report and the policy reads. Plain data: no I/O here.

The rates need two reads; `queue_load` and `http_load` compute them from the previous and the
current sample, so the daemon and the simulator derive them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Unavailable:
    """A metric that could not be read this time, and why. Never a reason to scale down."""

    reason: str


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


@dataclass(frozen=True)
class StubStatus:
    """The counters of nginx's stub_status page."""

    active_connections: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int

    @property
    def in_flight(self) -> int:
        """Requests being read or answered, less the stub_status request that read this."""
        return max(0, self.reading + self.writing - 1)


@dataclass(frozen=True)
class HttpLoad:
    """Requests in flight through nginx now, and requests per second since the previous read."""

    in_flight: int
    request_rate: float | None


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


def http_load(
    previous: tuple[float, StubStatus] | None, current: tuple[float, StubStatus]
) -> HttpLoad:
    """In-flight requests and the request rate from two timed reads of stub_status.

    Each read is itself a request, so one request per read is not counted. A counter that went
    down means nginx restarted in between: the new count is all that is known of the interval.
    """
    now, status = current
    if previous is None or now <= previous[0]:
        return HttpLoad(status.in_flight, request_rate=None)
    then, before = previous
    served = status.requests - before.requests
    if served < 0:
        served = status.requests
    return HttpLoad(status.in_flight, request_rate=max(0, served - 1) / (now - then))
