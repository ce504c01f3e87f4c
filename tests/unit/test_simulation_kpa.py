"""The KPA baseline reproduces Knative's autoscaler: windows, panic mode and rate limits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from autoscaler.simulation.kpa import KnativePodAutoscaler, knative_defaults
from autoscaler.simulation.service import ServiceView

# K = 10 slots: Knative aims for 7 jobs in flight per ready replica.
SPEC = knative_defaults(concurrency=10, min_replicas=1, max_replicas=100)


def ticks(kpa: KnativePodAutoscaler, seconds: list[tuple[int, int]]) -> list[int]:
    """The count asked for at each 2 s tick, fed (jobs in flight, ready replicas) a second."""
    asked = []
    for second, (in_flight, ready) in enumerate(seconds):
        view = ServiceView(second, ready, ready, in_flight, 0, 0, 0, 0)
        replicas = kpa.replicas(view)
        if second % 2 == 0:
            asked.append(replicas)
    return asked


def test_between_ticks_it_keeps_the_count():
    kpa = KnativePodAutoscaler(SPEC, ready_at_start=1)
    views = [ServiceView(second, 3, 3, 700, 0, 0, 0, 0) for second in range(2)]
    assert [kpa.replicas(view) for view in views] == [100, 3]


def test_it_counts_the_jobs_waiting_and_active():
    kpa = KnativePodAutoscaler(SPEC, ready_at_start=1)
    view = ServiceView(
        0, 1, 1, waiting=15, active=6, arrived=21, completed=0, completed_job_seconds=0
    )
    assert kpa.replicas(view) == 3  # 21 in flight at 7 per replica


def test_calm_it_sizes_for_the_stable_window_average():
    # 4 ready; 0 in flight for 30 s, then 35: the 60 s average is 31 x 35 / 60 = 18.1, which
    # wants 3, though 35 now would want 5 (not twice the 4 ready: no panic).
    kpa = KnativePodAutoscaler(SPEC, ready_at_start=1)
    assert ticks(kpa, [(0, 4)] * 30 + [(35, 4)] * 31)[-1] == 3 and not kpa.panicking


@pytest.mark.parametrize(
    "ready, in_flight, expected",
    [(1, 7, False), (1, 8, True), (3, 35, False), (3, 36, True)],
    ids=["1-ready-wants-1", "1-ready-wants-2", "3-ready-wants-5", "3-ready-wants-6"],
)
def test_panic_starts_when_the_panic_window_wants_twice_the_ready_replicas(
    ready, in_flight, expected
):
    # In flight the whole 6 s panic window: it wants ceil(in flight / 7) replicas, rounded up
    # before the comparison, as autoscaler.go does (8 / 7 wants 2).
    kpa = KnativePodAutoscaler(SPEC, ready_at_start=1)
    ticks(kpa, [(in_flight, ready)] * 7)
    assert kpa.panicking is expected


def test_in_panic_it_never_scales_down_and_leaves_a_stable_window_after_the_last_call():
    kpa = KnativePodAutoscaler(SPEC, ready_at_start=1)
    # 0 in flight, then 84 for one second at 6 s: the panic window's 84 / 6 = 14 want 2 of 1
    # ready replica: panic, and 2 replicas. Then nothing more is in flight.
    asked = ticks(kpa, [(0, 1)] * 6 + [(84, 1)] + [(0, 2)] * 63)
    assert asked[:3] == [1, 1, 1]
    # From the tick at 6 s to the one at 66 s the panic holds 2, though the stable window
    # wants 1 from 12 s on; the panic ends at 68 s, more than 60 s after its last call.
    assert asked[3:34] == [2] * 31 and asked[34] == 1
    assert not kpa.panicking


@pytest.mark.parametrize(
    "spec, ready, in_flight, expected",
    [
        (SPEC, 8, 0, 4),
        (SPEC, 5, 0, 2),
        (SPEC, 1, 0, 1),
        (SPEC, 1, 7000, 100),
        (replace(SPEC, max_scale_up_rate=3), 2, 700, 6),
    ],
    ids=[
        "down-8-to-4",
        "down-5-to-2-rounds-down",
        "down-1-stays-at-min",
        "up-1000x-then-max",
        "up-rate-limits-a-panic-too",
    ],
)
def test_rate_limits_per_tick_from_the_ready_replicas(spec, ready, in_flight, expected):
    kpa = KnativePodAutoscaler(spec, ready_at_start=1)
    assert ticks(kpa, [(in_flight, ready)]) == [expected]


def test_with_more_than_one_ready_replica_at_its_start_it_panics_and_holds_them():
    # newAutoscaler: a fresh autoscaler keeps the pods it finds until it has a window of data.
    kpa = KnativePodAutoscaler(SPEC, ready_at_start=4)
    asked = ticks(kpa, [(0, 4)] * 64)
    assert asked[:31] == [4] * 31 and asked[31] == 2
