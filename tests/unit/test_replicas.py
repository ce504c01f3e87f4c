"""Which replicas go on scale-in, and how a docker inspect record reads."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from autoscaler.actuators.inspect import replica_from_inspect
from autoscaler.actuators.replicas import Replica, choose_victims

START = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def replica(number: int, age_minutes: int, health: str | None = "healthy") -> Replica:
    return Replica(
        id=f"id{number}", name=f"p-flowise-{number}", service="flowise", number=number,
        state="running", health=health, started_at=START - timedelta(minutes=age_minutes),
        addresses={"p_default": f"172.18.0.{number}"},
    )  # fmt: skip


VICTIMS = {
    "the newest when nothing else tells them apart": (
        [replica(1, 30), replica(2, 5), replica(3, 10)], 1, None, ["id2"],
    ),
    "unhealthy ones first, even when older": (
        [replica(1, 30, "unhealthy"), replica(2, 5), replica(3, 10)], 1, None, ["id1"],
    ),
    "starting ones before serving ones": (
        [replica(1, 30), replica(2, 1, "starting"), replica(3, 10)], 2, None, ["id2", "id3"],
    ),
    "the least busy before the newest": (
        [replica(1, 30), replica(2, 5), replica(3, 10)], 1, {"id1": 0, "id2": 4, "id3": 2}, ["id1"],
    ),
    "busyness ties fall back to the newest": (
        [replica(1, 30), replica(2, 5), replica(3, 10)], 2, {"id1": 1, "id2": 1, "id3": 0},
        ["id3", "id2"],
    ),
}


@pytest.mark.parametrize("replicas,count,busyness,expected", VICTIMS.values(), ids=VICTIMS.keys())
def test_choose_victims(replicas, count, busyness, expected) -> None:
    assert [r.id for r in choose_victims(replicas, count, busyness)] == expected


# Trimmed from `docker container inspect` of a compose replica (Docker 20.10).
INSPECT = {
    "Id": "4f1c0de5a1b2",
    "Name": "/cfe2e-1a2b3c4d-flowise-2",
    "State": {
        "Status": "running",
        "StartedAt": "2026-11-26T12:40:01.123456789Z",
        "Health": {"Status": "starting", "FailingStreak": 0, "Log": []},
    },
    "Config": {
        "Labels": {
            "com.docker.compose.project": "cfe2e-1a2b3c4d",
            "com.docker.compose.service": "flowise",
            "com.docker.compose.container-number": "2",
        }
    },
    "NetworkSettings": {"Networks": {"cfe2e-1a2b3c4d_default": {"IPAddress": "172.20.0.5"}}},
}


def test_reads_a_docker_inspect_record() -> None:
    assert replica_from_inspect(INSPECT) == Replica(
        id="4f1c0de5a1b2", name="cfe2e-1a2b3c4d-flowise-2", service="flowise", number=2,
        state="running", health="starting",
        started_at=datetime(2026, 11, 26, 12, 40, 1, 123456, tzinfo=timezone.utc),
        addresses={"cfe2e-1a2b3c4d_default": "172.20.0.5"},
    )  # fmt: skip


def test_a_container_without_healthcheck_or_start_time() -> None:
    record = {**INSPECT, "State": {"Status": "created", "StartedAt": "0001-01-01T00:00:00Z"}}
    read = replica_from_inspect(record)
    assert (read.health, read.started_at.year, read.routable) == (None, 1, False)
