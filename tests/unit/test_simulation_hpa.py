"""The HPA reproduces the documented Kubernetes HPA behaviours; KEDA feeds it its metric."""

from __future__ import annotations

import pytest

from autoscaler.simulation.hpa import (
    DEFAULT_SCALE_UP,
    HorizontalPodAutoscaler,
    HpaSpec,
    ScalingPolicy,
    ScalingRules,
    replicas_for_average_value,
)
from autoscaler.simulation.keda import keda, keda_wait_only
from autoscaler.simulation.service import ServiceView

NO_WINDOW_DOWN = ScalingRules(0, (ScalingPolicy("Percent", 100, 15),))
TWO_PODS_PER_MINUTE_DOWN = ScalingRules(0, (ScalingPolicy("Pods", 2, 60),))


def syncs(spec: HpaSpec, start: int, metrics: list[float]) -> list[int]:
    """The count after each sync, one sync per sync period, each starting from the last."""
    hpa = HorizontalPodAutoscaler(spec)
    current, counts = start, []
    for index, metric in enumerate(metrics):
        current = hpa.reconcile(metric, current, index * spec.sync_period_seconds)
        counts.append(current)
    return counts


@pytest.mark.parametrize(
    "metric, current, expected",
    [
        (108, 10, 10),
        (92, 10, 10),
        (115, 10, 12),
        (85, 10, 9),
        (0, 3, 0),
        (3, 0, 1),
    ],
    ids=[
        "within-tolerance-above",
        "within-tolerance-below",
        "beyond-tolerance-up-rounds-up",
        "beyond-tolerance-down-rounds-up",
        "no-backlog-asks-for-none",
        "from-zero-replicas",
    ],
)
def test_average_value_target_with_tolerance(metric, current, expected):
    assert replicas_for_average_value(metric, 10, current, tolerance=0.1) == expected


@pytest.mark.parametrize(
    "spec, start, metrics, expected",
    [
        (
            HpaSpec(1, 10, 10),
            4,
            [40] + [0] * 21,
            [4] * 20 + [1, 1],
        ),
        (
            HpaSpec(1, 100, 10),
            1,
            [1000] * 6,
            [5, 10, 20, 40, 80, 100],
        ),
        (
            HpaSpec(1, 100, 10, sync_period_seconds=5),
            1,
            [1000] * 4,
            [5, 5, 5, 10],
        ),
        (
            HpaSpec(1, 100, 10, scale_down=NO_WINDOW_DOWN),
            20,
            [0],
            [1],
        ),
        (
            HpaSpec(1, 100, 10, scale_down=TWO_PODS_PER_MINUTE_DOWN),
            10,
            [0] * 5,
            [8, 8, 8, 8, 6],
        ),
        (
            HpaSpec(1, 100, 10, scale_down=NO_WINDOW_DOWN),
            10,
            [105, 150, 150],
            [10, 15, 15],
        ),
        (
            HpaSpec(2, 6, 10, scale_down=NO_WINDOW_DOWN),
            5,
            [1000, 0],
            [6, 2],
        ),
    ],
    ids=[
        "scale-down-waits-out-the-300s-window-of-highest-recommendations",
        "scale-up-max-of-4-pods-and-100-percent-per-15s",
        "scale-up-limit-counts-changes-within-the-15s-period",
        "scale-down-100-percent-per-15s",
        "scale-down-pods-policy-over-a-60s-period",
        "tolerance-keeps-the-count-then-scales-up-at-once",
        "clamped-to-max-and-min",
    ],
)
def test_behaviour(spec, start, metrics, expected):
    assert syncs(spec, start, metrics) == expected


def test_scale_up_stabilization_takes_the_lowest_recent_recommendation():
    slow_up = ScalingRules(30, DEFAULT_SCALE_UP.policies)
    spec = HpaSpec(1, 100, 10, scale_up=slow_up, scale_down=NO_WINDOW_DOWN)
    # At 15 s the window still holds the 2 recommended at 0 s; at 30 s it no longer does.
    assert syncs(spec, 2, [20, 60, 60]) == [2, 2, 6]


@pytest.mark.parametrize(
    "scaled_object, requested, waiting, active, expected",
    [
        # 42 jobs at 8 (80 % of K = 10) per replica want 5.25: within the tolerance of the 5
        # asked for (6 if it counted the 1 ready).
        (keda(concurrency=10, min_replicas=1, max_replicas=10), 5, 30, 12, 5),
        (keda(concurrency=10, min_replicas=1, max_replicas=10), 2, 30, 12, 6),
        # 32 waiting at 10 (2 s of work at C = 5 jobs/s) per replica want 3.2: within the
        # tolerance of 3; the active jobs do not count.
        (keda_wait_only(capacity=5, min_replicas=1, max_replicas=10), 3, 32, 12, 3),
        (keda_wait_only(capacity=5, min_replicas=1, max_replicas=10), 2, 32, 12, 4),
    ],
    ids=[
        "keda-within-tolerance-of-the-count-asked-for",
        "keda-waiting-and-active-at-80-percent-of-k",
        "keda-wait-only-within-tolerance",
        "keda-wait-only-at-2-seconds-of-work",
    ],
)
def test_keda_feeds_its_metric_and_the_hpa_counts_every_replica_asked_for(
    scaled_object, requested, waiting, active, expected
):
    view = ServiceView(
        0, requested, 1, waiting, active, arrived=100, completed=50, completed_job_seconds=100
    )
    assert scaled_object.interval_seconds == 15
    assert scaled_object.replicas(view) == expected
