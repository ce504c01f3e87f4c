"""The scalers compared with the HPA baseline: compose-flowise's own policy and the oracle.
Purely computational, no I/O here."""

from __future__ import annotations

import math
from collections.abc import Sequence

from autoscaler.config import ServicePolicy
from autoscaler.policy import Observation, ServiceHistory, decide, remember
from autoscaler.signals.bullmq_queue import QueueDepth, QueueSignal, queue_load
from autoscaler.simulation.service import ServiceView


class DaemonPolicy:
    """compose-flowise's policy, run as the daemon runs it: every interval, one read of the
    queue, `decide`, then `remember` the applied decision."""

    def __init__(
        self, service: str, policy: ServicePolicy, signal: QueueSignal, interval_seconds: float
    ) -> None:
        self.interval_seconds = interval_seconds
        self._service = service
        self._policy = policy
        self._signal = signal
        self._history = ServiceHistory()
        self._previous_read: tuple[float, QueueDepth] | None = None

    def replicas(self, view: ServiceView) -> int:
        now = float(view.second)
        read = (now, _queue_depth(view))
        load = queue_load(self._previous_read, read)
        self._previous_read = read
        observation = Observation(
            current_replicas=view.requested,
            ready_replicas=view.ready,
            readings={self._signal.name: load},
        )
        decision = decide(self._service, self._policy, observation, self._history, now)
        self._history = remember(self._history, decision, self._policy, now, applied=True)
        return decision.replicas


def _queue_depth(view: ServiceView) -> QueueDepth:
    """What BullMQ's keys would hold: the backlog waits, the jobs in service are active."""
    return QueueDepth(
        waiting=view.backlog,
        paused=0,
        prioritized=0,
        delayed=0,
        waiting_children=0,
        active=view.in_service,
        jobs_created=view.arrived,
    )


class Oracle:
    """The fewest replicas that keep up at every second: it knows each second's arrivals
    before they come, and its replicas need no startup time."""

    interval_seconds = 1.0

    def __init__(
        self, arrivals: Sequence[int], capacity: float, min_replicas: int, max_replicas: int
    ) -> None:
        self._arrivals = arrivals
        self._capacity = capacity
        self._min_replicas = min_replicas
        self._max_replicas = max_replicas

    def replicas(self, view: ServiceView) -> int:
        jobs = view.backlog + self._arrivals[view.second]
        needed = math.ceil(jobs / self._capacity - 1e-9)
        return min(max(needed, self._min_replicas), self._max_replicas)
