"""`down` keeps the data and `down --volumes` deletes it, on a real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from flowise_stack import FlowiseStack, predict, running_flowise_stack
from harness import HarnessError

from autoscaler.runtime import wiring

pytestmark = pytest.mark.e2e

JOB_COUNTER = "bull:flowise-queue-prediction:id"


def psql(stack: FlowiseStack, sql: str) -> str:
    docker = wiring.docker_client(stack.settings)
    command = ["psql", "-U", "flowise", "-d", "flowise", "-tAc", sql]
    return docker.compose.execute("postgres", command, tty=False).strip()


def jobs_created(stack: FlowiseStack) -> int:
    return int(redis.Redis.from_url(str(stack.settings.redis.url)).get(JOB_COUNTER) or 0)


def volumes(stack: FlowiseStack) -> set[str]:
    docker = wiring.docker_client(stack.settings)
    label = f"com.docker.compose.project={stack.settings.compose.project_name}"
    return {v.name for v in docker.volume.list(filters=[("label", label)])}


def test_down_keeps_the_database_and_the_queues_and_down_volumes_deletes_them(
    tmp_path: Path,
) -> None:
    try:
        with running_flowise_stack(tmp_path) as stack:
            psql(stack, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('survives')")
            assert predict(stack.http_url, "0").status_code == 200
            assert jobs_created(stack) == 1

            down = stack.cli("down")
            assert down.returncode == 0, down.stderr
            assert "the data is kept" in down.stdout
            assert wiring.docker_client(stack.settings).compose.ps(all=True) == []
            assert len(volumes(stack)) == 2, "postgres-data and redis-data"

            up = stack.cli("up")
            assert up.returncode == 0, up.stdout + up.stderr
            assert psql(stack, "SELECT note FROM kept") == "survives"
            assert jobs_created(stack) == 1, "Redis persists the queues (appendonly)"

            gone = stack.cli("down", "--volumes")
            assert gone.returncode == 0, gone.stderr
            assert volumes(stack) == set()
    except HarnessError as error:
        pytest.fail(str(error))
