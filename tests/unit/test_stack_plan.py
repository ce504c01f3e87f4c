"""What `up` starts, and when it counts the stack as ready. Pure: no I/O."""

from __future__ import annotations

import pytest

from autoscaler.config import default_services
from autoscaler.stack.startup import ContainerState, first_start_scales, initial_scales, readiness


def test_starts_each_scaled_service_at_its_min() -> None:
    assert initial_scales(default_services(), {}) == {"flowise": 2, "flowise-worker": 1}


def test_never_scales_in_a_running_stack() -> None:
    running = {"flowise": 5, "flowise-worker": 0}
    assert initial_scales(default_services(), running) == {"flowise": 5, "flowise-worker": 1}


def test_from_nothing_running_one_main_starts_alone_first() -> None:
    scales = {"flowise": 2, "flowise-worker": 1}
    assert first_start_scales(scales, {}, "flowise") == {"flowise": 1, "flowise-worker": 0}


NO_STAGING = {
    "a main runs": ({"flowise": 2, "flowise-worker": 1}, {"flowise": 1}),
    "a worker runs": ({"flowise": 2, "flowise-worker": 1}, {"flowise-worker": 1}),
    "one replica in all": ({"flowise": 1, "flowise-worker": 0}, {}),
    "the upstream service is not scaled": ({"flowise-worker": 3}, {}),
}


@pytest.mark.parametrize("scales, running", NO_STAGING.values(), ids=NO_STAGING)
def test_no_staging_when_migrations_cannot_race(scales, running) -> None:
    assert first_start_scales(scales, running, "flowise") is None


def state(status: str, health: str | None = None, exit_code: int = 0, restarts: int = 0):
    return ContainerState("p-svc-1", status, health, exit_code, restarts)


CASES = {
    "running without a healthcheck": (state("running"), "ready"),
    "healthy": (state("running", "healthy"), "ready"),
    "a one-shot service that succeeded": (state("exited", exit_code=0), "ready"),
    "a paused warm replica, unhealthy to Docker": (state("paused", "unhealthy"), "ready"),
    "health starting": (state("running", "starting"), "waiting"),
    "unhealthy for now": (state("running", "unhealthy"), "waiting"),
    "created, not started": (state("created"), "waiting"),
    "restarting once": (state("restarting", exit_code=1, restarts=1), "waiting"),
    "exited with an error": (state("exited", exit_code=3), "failed"),
    "crash loop": (state("running", "starting", exit_code=1, restarts=3), "failed"),
}


@pytest.mark.parametrize(("container", "verdict"), CASES.values(), ids=CASES.keys())
def test_readiness(container: ContainerState, verdict: str) -> None:
    result = readiness([container])
    found = "failed" if result.failed else "waiting" if result.waiting else "ready"
    assert found == verdict
    assert result.ready == (verdict == "ready")


def test_names_what_it_waits_for() -> None:
    result = readiness([state("running", "starting"), state("running", "healthy")])
    assert result.waiting == ("p-svc-1 (starting)",)
