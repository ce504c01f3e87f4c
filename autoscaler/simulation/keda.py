"""KEDA in front of the Kubernetes HPA (hpa.py): which queue metric it reports, and its target.
Purely computational, no I/O here.

KEDA's metrics server answers each of the HPA's metric queries by asking the scaler afresh
(`useCachedMetrics` is off by default; kedacore/keda issue 2282), so the HPA sees a new value
at each of its 15 s syncs. KEDA's own `pollingInterval` (30 s) only decides activation, the
step between 0 and 1 replica, which a min of 1 or more never takes: both baselines therefore
act at the HPA's 15 s sync, on what the queue holds at that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autoscaler.simulation.hpa import HorizontalPodAutoscaler, HpaSpec
from autoscaler.simulation.service import ServiceView

TARGET_SHARE_OF_CONCURRENCY = 0.8
"""`keda`: the jobs, waiting or active, per replica to aim for, as a share of its slots."""
WAIT_ONLY_TARGET_SECONDS_OF_WORK = 2
"""`keda-wait-only`: the waiting jobs per replica to aim for, in seconds of a replica's work."""


@dataclass
class ScaledObject:
    """A KEDA ScaledObject: KEDA reports `metric` to the HPA it creates, at each of its syncs."""

    hpa: HorizontalPodAutoscaler
    metric: Callable[[ServiceView], float]

    @property
    def interval_seconds(self) -> float:
        return self.hpa.spec.sync_period_seconds

    def replicas(self, view: ServiceView) -> int:
        """One sync. For an External metric the HPA counts every replica asked for, ready or
        not (replica_calculator.go `GetExternalPerPodMetricReplicas`)."""
        return self.hpa.reconcile(self.metric(view), view.requested, view.second)


def keda(concurrency: int, min_replicas: int, max_replicas: int) -> ScaledObject:
    """What an expert configures for a BullMQ queue: one metric, the jobs waiting plus the
    jobs active, with an AverageValue target of 80 % of a worker's concurrency, and the HPA's
    defaults otherwise. One metric: a `metrics-api` or `prometheus` trigger on the queue's
    counts. Two Redis list triggers (`wait`, `active`) would be two metrics, and the HPA takes
    the larger of their recommendations, not their sum. KEDA users size Celery workers the same
    way (klippa-app's keda-celery-scaler: (active + queued) / workers)."""
    spec = HpaSpec(min_replicas, max_replicas, TARGET_SHARE_OF_CONCURRENCY * concurrency)
    return ScaledObject(HorizontalPodAutoscaler(spec), _waiting_and_active)


def keda_wait_only(capacity: float, min_replicas: int, max_replicas: int) -> ScaledObject:
    """KEDA's Redis list scaler on BullMQ's `wait` list alone, with an AverageValue target of
    2 s of a replica's work (2 x C jobs), and the HPA's defaults otherwise. A queue that keeps
    up reads 0 there: the HPA drops to min after its 300 s window, and climbs back."""
    spec = HpaSpec(min_replicas, max_replicas, WAIT_ONLY_TARGET_SECONDS_OF_WORK * capacity)
    return ScaledObject(HorizontalPodAutoscaler(spec), _waiting)


def _waiting_and_active(view: ServiceView) -> float:
    return view.waiting + view.active


def _waiting(view: ServiceView) -> float:
    return view.waiting
