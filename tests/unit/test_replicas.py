"""Which replicas go on scale-in, and how a container's inspection reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from autoscaler.actuators.replicas import Replica, choose_victims, replica_from_inspection

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def replica(number: int, age_minutes: int, health: str | None = "healthy") -> Replica:
    return Replica(
        id=f"id{number}", name=f"p-flowise-{number}", service="flowise", number=number,
        state="running", health=health, started_at=START - timedelta(minutes=age_minutes),
        addresses={"p_default": f"172.18.0.{number}"},
    )  # fmt: skip


VICTIMS = {
    "the newest when nothing else tells them apart": (
        [replica(1, 30), replica(2, 5), replica(3, 10)],
        1,
        None,
        ["id2"],
    ),
    "unhealthy ones first, even when older": (
        [replica(1, 30, "unhealthy"), replica(2, 5), replica(3, 10)],
        1,
        None,
        ["id1"],
    ),
    "starting ones before serving ones": (
        [replica(1, 30), replica(2, 1, "starting"), replica(3, 10)],
        2,
        None,
        ["id2", "id3"],
    ),
    "the least busy before the newest": (
        [replica(1, 30), replica(2, 5), replica(3, 10)],
        1,
        {"id1": 0, "id2": 4, "id3": 2},
        ["id1"],
    ),
    "busyness ties fall back to the newest": (
        [replica(1, 30), replica(2, 5), replica(3, 10)],
        2,
        {"id1": 1, "id2": 1, "id3": 0},
        ["id3", "id2"],
    ),
}


@pytest.mark.parametrize("replicas,count,busyness,expected", VICTIMS.values(), ids=VICTIMS.keys())
def test_choose_victims(replicas, count, busyness, expected) -> None:
    assert [r.id for r in choose_victims(replicas, count, busyness)] == expected


def container(
    status: str, health: str | None, started_at: datetime | None, test: list[str] | None = None
):
    """What python-on-whales reads of one container in `docker inspect`."""
    return SimpleNamespace(
        id="4f1c0de5a1b2",
        name="/cfe2e-1a2b3c4d-flowise-2",
        image="sha256:9e1f",
        state=SimpleNamespace(
            status=status,
            health=SimpleNamespace(status=health) if health else None,
            started_at=started_at,
        ),
        config=SimpleNamespace(image="flowiseai/flowise:3.1.4", labels={
            "com.docker.compose.project": "cfe2e-1a2b3c4d",
            "com.docker.compose.service": "flowise",
            "com.docker.compose.container-number": "2",
        }, healthcheck=SimpleNamespace(test=test) if test else None),
        network_settings=SimpleNamespace(
            networks={"cfe2e-1a2b3c4d_default": SimpleNamespace(ip_address="172.20.0.5")}
        ),
    )  # fmt: skip


def test_reads_a_container_as_docker_inspect_describes_it() -> None:
    started = datetime(2026, 11, 26, 12, 40, 1, 123456, tzinfo=UTC)
    ping = ["CMD", "curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping"]
    assert replica_from_inspection(container("running", "starting", started, ping)) == Replica(
        id="4f1c0de5a1b2", name="cfe2e-1a2b3c4d-flowise-2", service="flowise", number=2,
        state="running", health="starting", started_at=started,
        addresses={"cfe2e-1a2b3c4d_default": "172.20.0.5"}, image="flowiseai/flowise:3.1.4",
        image_id="sha256:9e1f", probe=("curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("test", "probe"),
    [
        (["CMD-SHELL", "redis-cli ping | grep -q PONG"],
         ("sh", "-c", "redis-cli ping | grep -q PONG")),
        (["NONE"], ()),
        (None, ()),
    ],
)  # fmt: skip
def test_a_healthcheck_reads_as_the_command_to_probe_the_replica_with(test, probe) -> None:
    started = datetime(2026, 11, 26, tzinfo=UTC)
    assert replica_from_inspection(container("running", "healthy", started, test)).probe == probe


def test_a_container_without_healthcheck_that_never_started() -> None:
    never = datetime(1, 1, 1, tzinfo=UTC)
    read = replica_from_inspection(container("created", None, never))
    assert (read.health, read.started_at.year, read.routable) == (None, 1, False)
