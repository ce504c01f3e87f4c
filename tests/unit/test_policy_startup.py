"""How long a new replica takes to take work, learned from what the decisions see."""

from __future__ import annotations

import pytest

from autoscaler.policy import Observation, ScaleEvent
from autoscaler.policy.model import ASSUMED_STARTUP_SECONDS, StartupMemory
from autoscaler.policy.startup import learn_startup

UP_AT_100 = (ScaleEvent(100.0, 1, 3),)

STARTS = {
    "nothing starting: nothing learned": (StartupMemory(), Observation(3, 3), (), 130, None, None),
    "a scale-up not ready yet: waiting since it was asked": (
        StartupMemory(), Observation(3, 1), UP_AT_100, 110, None, 100.0,
    ),
    "ready at last: the first start is learned as it was": (
        StartupMemory(waiting_since=100.0), Observation(3, 3), UP_AT_100, 140, 40.0, None,
    ),
    "a later start moves the estimate half way": (
        StartupMemory(40.0, waiting_since=100.0), Observation(3, 3), UP_AT_100, 120, 30.0, None,
    ),
    "a replica restarted, no scale-up asked: waiting since now": (
        StartupMemory(20.0), Observation(3, 2), (), 500, 20.0, 500.0,
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    "memory, observation, events, now, seconds, waiting_since", STARTS.values(), ids=STARTS.keys()
)
def test_learn_startup(memory, observation, events, now, seconds, waiting_since) -> None:
    learned = learn_startup(memory, observation, events, now)
    assert (learned.seconds, learned.waiting_since) == (seconds, waiting_since)


def test_before_any_start_a_flowise_start_is_assumed() -> None:
    assert StartupMemory().expected_seconds == ASSUMED_STARTUP_SECONDS


def test_what_is_left_of_a_start_in_progress() -> None:
    assert StartupMemory(30.0, waiting_since=100.0).seconds_left(now=110.0) == 20.0
    assert StartupMemory(30.0, waiting_since=100.0).seconds_left(now=200.0) == 0.0
