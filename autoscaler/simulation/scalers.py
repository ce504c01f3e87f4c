"""The scalers compared with the baselines (keda.py, kpa.py): compose-flowise's own policy and
the oracle. Purely computational, no I/O here."""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import accumulate

from autoscaler.config import ServicePolicy
from autoscaler.policy import Observation, ServiceHistory, decide, remember
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.signals.bullmq_reads import JOB_SAMPLE, QueueDepth, queue_load
from autoscaler.simulation.service import ServiceView
from autoscaler.simulation.workload import MS_PER_SECOND, Workload


class DaemonPolicy:
    """compose-flowise's policy, run as the daemon runs it: every interval, one read of the
    queue, `decide`, then `remember` the applied decision."""

    def __init__(
        self,
        service: str,
        policy: ServicePolicy,
        signal: QueueSignal,
        interval_seconds: float,
        concurrency: int,
    ) -> None:
        self.interval_seconds = interval_seconds
        self._service = service
        self._policy = policy
        self._signal = signal
        self._concurrency = concurrency
        self._history = ServiceHistory()
        self._previous_read: tuple[float, QueueDepth] | None = None
        self._previous_view: ServiceView | None = None

    def replicas(self, view: ServiceView) -> int:
        now = float(view.second)
        read = (now, _queue_depth(view))
        load = replace(
            queue_load(self._previous_read, read),
            mean_job_seconds=_mean_job_seconds(self._previous_view, view),
            timed_jobs=_timed_jobs(self._previous_view, view),
            workers=view.ready,
            concurrency=self._concurrency,
        )
        self._previous_read, self._previous_view = read, view
        observation = Observation(
            current_replicas=view.requested,
            ready_replicas=view.ready,
            readings={self._signal.name: load},
        )
        decision = decide(self._service, self._policy, observation, self._history, now)
        self._history = remember(self._history, decision, self._policy, now, applied=True)
        return decision.replicas


def _mean_job_seconds(before: ServiceView | None, now: ServiceView) -> float | None:
    """What the daemon reads of the jobs finished since its previous read: their mean time."""
    if before is None or now.completed == before.completed:
        return None
    finished = now.completed - before.completed
    return (now.completed_job_seconds - before.completed_job_seconds) / finished


def _timed_jobs(before: ServiceView | None, now: ServiceView) -> int | None:
    """How many finished jobs the daemon times at a read: those since its previous read, at
    most the sample it reads; None when none finished."""
    if before is None or now.completed == before.completed:
        return None
    return min(now.completed - before.completed, JOB_SAMPLE)


def _queue_depth(view: ServiceView) -> QueueDepth:
    """What BullMQ's keys would hold: the jobs queued wait, the jobs in slots are active."""
    return QueueDepth(
        waiting=view.waiting,
        paused=0,
        prioritized=0,
        delayed=0,
        waiting_children=0,
        active=view.active,
        jobs_created=view.arrived,
    )


class Oracle:
    """Clairvoyant, and its replicas need no startup time: each second, the fewest replicas with
    a slot for every job waiting and for every job that would be running had each started the
    moment it arrived. It knows every arrival and service time ahead."""

    interval_seconds = 1.0

    def __init__(
        self, workload: Workload, concurrency: int, min_replicas: int, max_replicas: int
    ) -> None:
        self._slots = _slots_if_started_on_arrival(workload)
        self._concurrency = concurrency
        self._min_replicas = min_replicas
        self._max_replicas = max_replicas

    def replicas(self, view: ServiceView) -> int:
        planned = self._slots[view.second] if view.second < len(self._slots) else 0.0
        needed = math.ceil((planned + view.waiting) / self._concurrency - 1e-9)
        return min(max(needed, self._min_replicas), self._max_replicas)


def _slots_if_started_on_arrival(workload: Workload) -> list[float]:
    """Per second, the slots the jobs hold if each starts the moment it arrives. A job of a
    second or more holds one in every second it runs into; shorter jobs share a slot back to
    back, each holding its service time's share of one."""
    change = [0.0] * (len(workload.arrivals) + max(workload.job_ms) // MS_PER_SECOND + 2)
    for second, (jobs, job_ms) in enumerate(zip(workload.arrivals, workload.job_ms, strict=True)):
        share = jobs * min(1.0, job_ms / MS_PER_SECOND)
        change[second] += share
        change[second + math.ceil(job_ms / MS_PER_SECOND)] -= share
    return list(accumulate(change))
