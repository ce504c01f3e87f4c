"""The Kubernetes HPA (autoscaling/v2) with its documented defaults, on one External metric
with an AverageValue target: what KEDA feeds it (keda.py). Purely computational, no I/O here.

Written from the Kubernetes sources (pkg/controller/podautoscaler: replica_calculator.go
`GetExternalPerPodMetricReplicas`, horizontal.go `stabilizeRecommendationWithBehaviors`,
`convertDesiredReplicasWithBehaviorRate`, `calculateScaleUpLimitWithScalingRules`,
`calculateScaleDownLimitWithBehaviors`) and deliberately independent of `autoscaler.policy`:
a mistake in our policy cannot hide in the baseline it is measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ScalingPolicy:
    """`HPAScalingPolicy`: at most `value` pods or percent per `period_seconds`."""

    type: Literal["Pods", "Percent"]
    value: int
    period_seconds: int


@dataclass(frozen=True)
class ScalingRules:
    """`HPAScalingRules` for one direction."""

    stabilization_window_seconds: int
    policies: tuple[ScalingPolicy, ...]
    select_policy: Literal["Max", "Min"] = "Max"


# The defaults the API server fills into `spec.behavior`.
DEFAULT_SCALE_UP = ScalingRules(
    stabilization_window_seconds=0,
    policies=(ScalingPolicy("Percent", 100, 15), ScalingPolicy("Pods", 4, 15)),
)
DEFAULT_SCALE_DOWN = ScalingRules(
    stabilization_window_seconds=300, policies=(ScalingPolicy("Percent", 100, 15),)
)


@dataclass(frozen=True)
class HpaSpec:
    min_replicas: int
    max_replicas: int
    target_average_value: float
    """The External metric's AverageValue target: the metric per replica to aim for."""
    tolerance: float = 0.1
    """--horizontal-pod-autoscaler-tolerance"""
    sync_period_seconds: int = 15
    """--horizontal-pod-autoscaler-sync-period"""
    scale_up: ScalingRules = DEFAULT_SCALE_UP
    scale_down: ScalingRules = DEFAULT_SCALE_DOWN


@dataclass(frozen=True)
class Timed:
    """A recommendation, or a scale event's size, and when it was made."""

    at: float
    replicas: int


def replicas_for_average_value(
    metric: float, target_average_value: float, current: int, tolerance: float
) -> int:
    """`GetExternalPerPodMetricReplicas`: ceil(metric / target), unless the usage ratio is
    within the tolerance of 1."""
    if current > 0 and abs(1 - metric / (target_average_value * current)) <= tolerance:
        return current
    return math.ceil(metric / target_average_value)


def stabilized(
    desired: int, current: int, past: tuple[Timed, ...], spec: HpaSpec, now: float
) -> int:
    """`stabilizeRecommendationWithBehaviors`: up to at most the lowest recommendation within
    the scale-up window, down to at least the highest within the scale-down window."""
    up_cutoff = now - spec.scale_up.stabilization_window_seconds
    down_cutoff = now - spec.scale_down.stabilization_window_seconds
    up = min([r.replicas for r in past if r.at > up_cutoff], default=desired)
    down = max([r.replicas for r in past if r.at > down_cutoff], default=desired)
    return min(max(current, min(up, desired)), max(down, desired))


@dataclass(frozen=True)
class ScaleEvents:
    """The controller's `scaleUpEvents` and `scaleDownEvents`: sizes of past changes."""

    ups: tuple[Timed, ...] = ()
    downs: tuple[Timed, ...] = ()

    def period_start(self, current: int, period_seconds: int, now: float) -> int:
        """The count at the start of the period, undoing the changes made within it."""
        cutoff = now - period_seconds
        added = sum(event.replicas for event in self.ups if event.at > cutoff)
        removed = sum(event.replicas for event in self.downs if event.at > cutoff)
        return current - added + removed

    def after(self, before: int, after: int, now: float, horizon: float) -> ScaleEvents:
        """These events plus the change from `before` to `after`, forgetting beyond `horizon`."""
        ups = tuple(event for event in self.ups if event.at > now - horizon)
        downs = tuple(event for event in self.downs if event.at > now - horizon)
        if after > before:
            ups += (Timed(now, after - before),)
        elif after < before:
            downs += (Timed(now, before - after),)
        return ScaleEvents(ups, downs)


def scale_up_limit(current: int, events: ScaleEvents, rules: ScalingRules, now: float) -> int:
    """`calculateScaleUpLimitWithScalingRules`."""
    proposals = []
    for policy in rules.policies:
        start = events.period_start(current, policy.period_seconds, now)
        if policy.type == "Pods":
            proposals.append(start + policy.value)
        else:
            proposals.append(math.ceil(start * (1 + policy.value / 100)))
    return max(proposals) if rules.select_policy == "Max" else min(proposals)


def scale_down_limit(current: int, events: ScaleEvents, rules: ScalingRules, now: float) -> int:
    """`calculateScaleDownLimitWithBehaviors`: the largest change is the fewest replicas."""
    proposals = []
    for policy in rules.policies:
        start = events.period_start(current, policy.period_seconds, now)
        if policy.type == "Pods":
            proposals.append(start - policy.value)
        else:
            proposals.append(int(start * (1 - policy.value / 100)))
    return min(proposals) if rules.select_policy == "Max" else max(proposals)


def rate_limited(desired: int, current: int, events: ScaleEvents, spec: HpaSpec, now: float) -> int:
    """`convertDesiredReplicasWithBehaviorRate`: the step limits, then min and max."""
    if desired > current:
        limit = max(current, scale_up_limit(current, events, spec.scale_up, now))
        return min(desired, spec.max_replicas, limit)
    if desired < current:
        limit = min(current, scale_down_limit(current, events, spec.scale_down, now))
        return max(desired, spec.min_replicas, limit)
    return desired


@dataclass
class HorizontalPodAutoscaler:
    """One HPA object and the controller's in-memory state for it."""

    spec: HpaSpec
    recommendations: tuple[Timed, ...] = ()
    events: ScaleEvents = ScaleEvents()

    def reconcile(self, metric: float, current: int, now: float) -> int:
        """One sync: the count for the metric's value, from the `current` count."""
        spec = self.spec
        desired = replicas_for_average_value(
            metric, spec.target_average_value, current, spec.tolerance
        )
        stable = stabilized(desired, current, self.recommendations, spec, now)
        decided = rate_limited(stable, current, self.events, spec, now)
        horizon = self._horizon()
        recent = tuple(r for r in self.recommendations if r.at > now - horizon)
        self.recommendations = (*recent, Timed(now, desired))
        self.events = self.events.after(current, decided, now, horizon)
        return decided

    def _horizon(self) -> float:
        """How far back any rule looks."""
        rules = (self.spec.scale_up, self.spec.scale_down)
        return max(
            [r.stabilization_window_seconds for r in rules]
            + [p.period_seconds for r in rules for p in r.policies]
        )
