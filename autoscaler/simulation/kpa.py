"""The Knative Pod Autoscaler (KPA) with Knative Serving's defaults, scaling on the jobs in
flight. Purely computational, no I/O here.

Written from knative/serving: pkg/autoscaler/scaling/autoscaler.go (`Scale`, `newAutoscaler`),
the defaults of pkg/autoscaler/config/config.go (`defaultConfig`), the 2 s `tickInterval` of
pkg/autoscaler/scaling/multiscaler.go, the 1 s scrape and 1 s buckets of
pkg/autoscaler/metrics/collector.go, `WindowAverage` of pkg/autoscaler/aggregation/bucketing.go,
the target of pkg/reconciler/autoscaling/resources/target.go (`ResolveMetricTarget`) and the
min/max bounds the KPA reconciler applies. Like hpa.py, deliberately independent of
`autoscaler.policy`: a mistake in our policy cannot hide in the baseline it is measured against.

Knative's concurrency counts every request in the system, whether a container works on it or it
waits in the queue-proxy or the activator: for a job queue, the jobs waiting plus the jobs
active.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from autoscaler.simulation.service import ServiceView

WINDOW_AVERAGE_DIGITS = 6
"""bucketing.go `precision`: a window's average is rounded to this many decimal digits."""
TARGET_SHARE_OF_CONCURRENCY = 0.7
"""config.go `defaultTargetUtilization`, container-concurrency-target-percentage: the jobs in
flight per ready replica to aim for, as a share of its slots (`containerConcurrency`)."""


@dataclass(frozen=True)
class KpaSpec:
    min_replicas: int
    max_replicas: int
    target: float
    """Jobs in flight per ready replica to aim for (target.go `ResolveMetricTarget`)."""
    tick_seconds: int = 2
    """multiscaler.go `tickInterval`: how often the KPA decides."""
    stable_window_seconds: int = 60
    """stable-window: the average it sizes for; also how long a panic lasts after the load
    stops calling for one."""
    panic_window_seconds: int = 6
    """panic-window-percentage (10 %) of the stable window: the average that detects a burst."""
    panic_threshold: float = 2.0
    """panic-threshold-percentage (200 %): panic when the panic window wants this many times
    the ready replicas."""
    max_scale_up_rate: float = 1000.0
    """max-scale-up-rate: at most this many times the ready replicas per tick."""
    max_scale_down_rate: float = 2.0
    """max-scale-down-rate: at least the ready replicas divided by this per tick."""


def knative_defaults(concurrency: int, min_replicas: int, max_replicas: int) -> KpaSpec:
    """The KPA as Knative ships it, for a worker of `concurrency` slots."""
    return KpaSpec(min_replicas, max_replicas, TARGET_SHARE_OF_CONCURRENCY * concurrency)


class _WindowAverage:
    """`TimedFloat64Buckets`, one bucket a second: the mean of the samples of the last
    `seconds`, or of all of them while there are fewer."""

    def __init__(self, seconds: int) -> None:
        self._samples: deque[float] = deque(maxlen=seconds)
        self._total = 0.0

    def record(self, sample: float) -> None:
        if len(self._samples) == self._samples.maxlen:
            self._total -= self._samples[0]
        self._samples.append(sample)
        self._total += sample

    def average(self) -> float:
        return round(self._total / len(self._samples), WINDOW_AVERAGE_DIGITS)


class KnativePodAutoscaler:
    """One revision's KPA: it records the jobs in flight every second and decides every tick."""

    interval_seconds = 1.0
    """collector.go `scrapeTickInterval`: the metric is sampled every second."""

    def __init__(self, spec: KpaSpec, ready_at_start: int) -> None:
        self.spec = spec
        self._stable = _WindowAverage(spec.stable_window_seconds)
        self._panic = _WindowAverage(spec.panic_window_seconds)
        # newAutoscaler: it starts panicking, holding the pods it finds, when more than one is
        # ready: a restarted autoscaler has lost its history and must not scale down on it.
        self._panic_time: float | None = 0.0 if ready_at_start > 1 else None
        """autoscaler.go `panicTime`: the last tick that called for a panic, None when calm."""
        self._max_panic_pods = ready_at_start

    @property
    def panicking(self) -> bool:
        return self._panic_time is not None

    def replicas(self, view: ServiceView) -> int:
        in_flight = view.waiting + view.active
        self._stable.record(in_flight)
        self._panic.record(in_flight)
        if view.second % self.spec.tick_seconds:
            return view.requested
        desired = self.scale(view.ready, view.second)
        return min(max(desired, self.spec.min_replicas), self.spec.max_replicas)

    def scale(self, ready: int, now: float) -> int:
        """autoscaler.go `Scale`: the pods for the stable window's average, within the rate
        limits; while panicking, for the panic window's too, and never fewer than before."""
        spec = self.spec
        ready_pods = max(1, ready)
        max_up = math.ceil(spec.max_scale_up_rate * ready_pods)
        max_down = math.floor(ready_pods / spec.max_scale_down_rate)
        stable_pods = math.ceil(self._stable.average() / spec.target)
        panic_pods = math.ceil(self._panic.average() / spec.target)
        desired_stable = min(max(stable_pods, max_down), max_up)
        desired_panic = min(max(panic_pods, max_down), max_up)
        self._update_panic(panic_pods / ready_pods >= spec.panic_threshold, now)
        if not self.panicking:
            return desired_stable
        self._max_panic_pods = max(self._max_panic_pods, desired_stable, desired_panic)
        return self._max_panic_pods

    def _update_panic(self, over_threshold: bool, now: float) -> None:
        """Panic starts, or goes on, while the panic window wants `panic_threshold` times the
        ready pods; it stops once it has not for a whole stable window."""
        window = self.spec.stable_window_seconds
        if over_threshold:
            self._panic_time = now
        elif self._panic_time is not None and now > self._panic_time + window:
            self._panic_time = None
            self._max_panic_pods = 0
