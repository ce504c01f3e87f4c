"""What `up` says while it waits: each image it pulls, each container as it becomes healthy,
and every 15 s what it still waits for. The engine is faked: a script of container states and
a clock that each poll's sleep moves on."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from autoscaler.stack.errors import StackError
from autoscaler.stack.lifecycle import pull_missing_images, wait_until_ready
from autoscaler.stack.startup import ContainerState, images_to_pull


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def starting(name: str) -> ContainerState:
    return ContainerState(name, "running", "starting", 0)


def healthy(name: str) -> ContainerState:
    return ContainerState(name, "running", "healthy", 0)


def scripted(polls: list[list[ContainerState]]) -> Iterator[list[ContainerState]]:
    """Each poll's containers; the last poll's again once the script is over."""
    yield from polls
    while True:
        yield polls[-1]


def waited(polls: list[list[ContainerState]], timeout: float = 180) -> list[str]:
    lines: list[str] = []
    clock, states = Clock(), scripted(polls)
    wait_until_ready(lambda: next(states), timeout, lines.append, "`logs`", clock, clock.sleep)
    return lines


def test_a_line_for_each_container_as_it_becomes_healthy() -> None:
    polls = [[starting("redis"), starting("main-1")], [healthy("redis"), starting("main-1")],
             [healthy("redis"), healthy("main-1")]]  # fmt: skip
    assert waited(polls) == [
        "waiting for every container to be healthy (up to 180s)",
        "  redis: healthy (2s)",
        "  main-1: healthy (4s)",
    ]


def test_every_15_seconds_what_it_still_waits_for() -> None:
    polls = [[healthy("redis"), starting("main-1")]] * 17 + [[healthy("redis"), healthy("main-1")]]
    lines = waited(polls)
    assert lines[1] == "  redis: healthy (0s)"
    assert lines[2:-1] == [
        "  waiting for main-1 (starting) (16s)",
        "  waiting for main-1 (starting) (32s)",
    ]
    assert lines[-1] == "  main-1: healthy (34s)"


def test_the_timeout_names_what_is_not_healthy() -> None:
    with pytest.raises(StackError, match=r"not healthy after 20s: main-1 \(starting\)"):
        waited([[healthy("redis"), starting("main-1")]], timeout=20)


def test_a_crashed_container_fails_at_once_naming_it() -> None:
    crashed = ContainerState("main-1", "exited", None, 1)
    with pytest.raises(StackError, match=r"failed: main-1 \(exited with status 1"):
        waited([[healthy("redis"), crashed]])


COMPOSE_SERVICES = {
    "flowise": {"image": "flowise:3.1.4"},
    "flowise-worker": {"image": "flowise:3.1.4"},
    "redis": {"image": "redis:7.4.1", "pull_policy": "missing"},
    "nginx": {"image": "nginx:1.27.3"},
    "local": {"image": "mine:dev", "pull_policy": "never"},
    "built": {"image": "built:dev", "pull_policy": "build"},
    "no-image": {},
}


def test_the_images_compose_would_pull_once_each_in_order() -> None:
    assert images_to_pull(COMPOSE_SERVICES, {"nginx:1.27.3"}.__contains__) == [
        "flowise:3.1.4",
        "redis:7.4.1",
    ]


class FakeDocker:
    """`docker compose config`, `docker image inspect` and `docker pull`, as recorded calls."""

    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.pulled: list[str] = []
        self.compose = SimpleNamespace(config=lambda return_json: {"services": COMPOSE_SERVICES})
        self.image = SimpleNamespace(exists=present.__contains__, pull=self._pull)

    def _pull(self, image: str, quiet: bool) -> None:
        self.pulled.append(image)


def test_up_pulls_each_missing_image_with_a_line_before_it() -> None:
    docker, lines = FakeDocker({"nginx:1.27.3"}), []
    pull_missing_images(docker, lines.append)  # type: ignore[arg-type]
    assert docker.pulled == ["flowise:3.1.4", "redis:7.4.1"]
    assert lines == [
        "pulling flowise:3.1.4 (1 of 2): can take minutes",
        "pulling redis:7.4.1 (2 of 2): can take minutes",
    ]


def test_up_pulls_nothing_when_every_image_is_there() -> None:
    docker, lines = FakeDocker({"flowise:3.1.4", "redis:7.4.1", "nginx:1.27.3"}), []
    pull_missing_images(docker, lines.append)  # type: ignore[arg-type]
    assert (docker.pulled, lines) == ([], [])
