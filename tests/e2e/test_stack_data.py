"""`down` keeps the data and `down --volumes` deletes it; `backup` and `restore` bring it back:
on a real engine."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import redis
from flowise_stack import FlowiseStack, predict, running_flowise_stack
from harness import HarnessError, run_cli

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
            assert len(volumes(stack)) == 3, "postgres-data, redis-data and minio-data"

            up = stack.cli("up")
            assert up.returncode == 0, up.stdout + up.stderr
            assert psql(stack, "SELECT note FROM kept") == "survives"
            assert jobs_created(stack) == 1, "Redis persists the queues (appendonly)"

            gone = stack.cli("down", "--volumes")
            assert gone.returncode == 0, gone.stderr
            assert volumes(stack) == set()
    except HarnessError as error:
        pytest.fail(str(error))


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def files_in(folder: Path) -> dict[Path, bytes]:
    """Every file under `folder`, with its bytes."""
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_backup_then_down_volumes_then_restore_into_a_fresh_folder_brings_the_data_back(
    tmp_path: Path,
) -> None:
    try:
        with running_flowise_stack(tmp_path / "stack") as stack:
            psql(stack, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('survives')")
            backup_folder = tmp_path / "backup"
            made = stack.cli("backup", str(backup_folder))
            assert made.returncode == 0, made.stdout + made.stderr
            assert mode(backup_folder) == 0o700
            files = {p.name: mode(p) for p in backup_folder.iterdir()}
            assert files == dict.fromkeys(
                ["backup.json", "flowise.dump", "stack.env", "config.toml"], 0o600
            )
            again = stack.cli("backup", str(backup_folder))
            assert again.returncode == 2 and "is not an empty folder" in again.stderr

            assert stack.cli("down", "--volumes").returncode == 0
            moved = tmp_path / "moved"
            restored = run_cli("restore", str(backup_folder), str(moved))
            assert restored.returncode == 0, restored.stdout + restored.stderr
            assert "restored the database of" in restored.stdout
            assert mode(moved / ".env") == 0o600
            assert (
                f"FLOWISE_UPSTREAM_DIR={moved / 'state' / 'nginx'}" in (moved / ".env").read_text()
            )
            up = run_cli("up", "--config", str(moved / "config.toml"))
            assert up.returncode == 0, up.stdout + up.stderr
            assert psql(stack, "SELECT note FROM kept") == "survives"
            assert predict(stack.http_url, "0").status_code == 200

            # A value of the operator's that the backup lacks: a restore would drop it.
            with (moved / ".env").open("a") as env:
                env.write("LOG_LEVEL=debug\n")
            before = files_in(moved)
            over_running = run_cli("restore", str(backup_folder), str(moved))
            assert over_running.returncode == 1
            assert "Flowise is running" in over_running.stderr
            assert files_in(moved) == before, "a refused restore writes nothing"
            assert stack.cli("down").returncode == 0
            before = files_in(moved)
            refused = run_cli("restore", str(backup_folder), str(moved))
            assert refused.returncode == 2
            assert re.search(r"holds \d+ table\(s\): restore would replace them", refused.stderr)
            assert files_in(moved) == before, "a refused restore writes nothing"
            forced = run_cli("restore", "--force", str(backup_folder), str(moved))
            assert forced.returncode == 0, forced.stdout + forced.stderr
            assert psql(stack, "SELECT note FROM kept") == "survives"
    except HarnessError as error:
        pytest.fail(str(error))
