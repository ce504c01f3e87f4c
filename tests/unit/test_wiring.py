"""What the runtime's wiring reads from the stack's own files (WORKER_CONCURRENCY in its .env),
and the backend it builds."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

import pytest

from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.warm import WarmPool
from autoscaler.config import Settings
from autoscaler.config.settings import ComposeSettings
from autoscaler.runtime import wiring
from autoscaler.runtime.warm_refill import WarmRefill
from autoscaler.stopping import StopSignal


def settings_in(directory: Path, env_file: Path | None = None) -> Settings:
    return Settings.model_validate(
        {"compose": {"directory": str(directory), "env_file": env_file and str(env_file)}}
    )


def test_the_connections_carry_the_worker_concurrency_of_the_stacks_env_file(tmp_path) -> None:
    (tmp_path / ".env").write_text("REDIS_PASSWORD=x\nWORKER_CONCURRENCY=8\n")
    settings = settings_in(tmp_path)
    assert settings.compose.env_file is None, "no env file configured: the directory's .env"
    assert wiring.connections(settings).worker_concurrency == 8


def test_the_configured_env_file_wins_over_the_one_in_the_directory(tmp_path) -> None:
    (tmp_path / ".env").write_text("WORKER_CONCURRENCY=8\n")
    (tmp_path / "prod.env").write_text("WORKER_CONCURRENCY=4\n")
    settings = settings_in(tmp_path, env_file=tmp_path / "prod.env")
    assert wiring.connections(settings).worker_concurrency == 4


VALUES = {
    "a plain number": ("WORKER_CONCURRENCY=12", 12),
    "quoted": ("WORKER_CONCURRENCY='12'", 12),
    "after export, with a comment": ("export WORKER_CONCURRENCY=12 # per worker", 12),
    "the key missing": ("QUEUE_NAME=flowise-queue", None),
    "empty": ("WORKER_CONCURRENCY=", None),
    "zero": ("WORKER_CONCURRENCY=0", None),
    "negative": ("WORKER_CONCURRENCY=-3", None),
    "a word": ("WORKER_CONCURRENCY=ten", None),
    "a fraction": ("WORKER_CONCURRENCY=2.5", None),
    "left to compose": ("WORKER_CONCURRENCY=${CONCURRENCY:-10}", None),
    "a digit that is not ASCII": ("WORKER_CONCURRENCY=\u0663", None),
}


@pytest.mark.parametrize(("line", "expected"), VALUES.values(), ids=VALUES.keys())
def test_worker_concurrency_from_the_env_file(tmp_path, line: str, expected: int | None) -> None:
    (tmp_path / ".env").write_text(f"REDIS_PASSWORD=x\n{line}\n")
    assert wiring.worker_concurrency(tmp_path / ".env") == expected


def test_a_missing_env_file_is_no_concurrency(tmp_path) -> None:
    assert not (tmp_path / ".env").exists()
    assert wiring.worker_concurrency(tmp_path / ".env") is None


def test_a_folder_in_place_of_the_env_file_is_no_concurrency_not_a_crash(tmp_path) -> None:
    (tmp_path / ".env").mkdir()
    with pytest.raises(IsADirectoryError):
        (tmp_path / ".env").read_text()
    assert wiring.worker_concurrency(tmp_path / ".env") is None


def test_an_env_file_that_is_not_text_is_no_concurrency_not_a_crash(tmp_path) -> None:
    (tmp_path / ".env").write_bytes(b"WORKER_CONCURRENCY=\xff\xfe\n")
    with pytest.raises(UnicodeDecodeError):
        (tmp_path / ".env").read_text(encoding="utf-8")
    assert wiring.worker_concurrency(tmp_path / ".env") is None


def test_every_backend_the_config_accepts_is_built_and_no_other() -> None:
    names = get_args(ComposeSettings.model_fields["backend"].annotation)
    assert set(wiring.BACKENDS) == set(names) == {"compose", "swarm"}


@pytest.mark.parametrize("name", ["compose", "swarm"])
def test_the_configured_backend_is_the_one_built(name: str) -> None:
    from python_on_whales import DockerClient

    settings = Settings.model_validate({"compose": {"backend": name}})
    backend = wiring.replica_backend(settings, DockerClient())
    assert type(backend).__name__ == f"{name.capitalize()}Backend"


@pytest.mark.parametrize("configured", [None, "prod.env"])
def test_an_env_file_laid_over_comes_after_the_stacks_own(tmp_path, configured) -> None:
    """Given any --env-file, compose reads no default .env: the stack's own is named first."""
    settings = settings_in(tmp_path, env_file=configured and tmp_path / configured)
    over = tmp_path / ".env.upgrade"
    files = wiring.docker_client(settings, env_over=over).client_config.compose_env_files
    assert [Path(f) for f in files] == [tmp_path / (configured or ".env"), over]
    plain = wiring.docker_client(settings).client_config.compose_env_files
    assert [Path(f) for f in plain] == ([tmp_path / configured] if configured else [])


def test_a_healthcheck_run_by_hand_that_never_answers_is_ended(tmp_path, monkeypatch) -> None:
    """A main that accepts and never answers must not hold a scale-out: the probe's docker
    command is ended after a bound, and the replica counts as not answering."""
    from python_on_whales import DockerClient

    fake_docker = tmp_path / "docker"
    fake_docker.write_text("#!/bin/sh\nsleep 30\n")  # `docker exec` of a hung healthcheck
    fake_docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setattr(wiring, "PROBE_TIMEOUT_SECONDS", 0.5)
    pool = WarmPool()
    backend = wiring.compose_backend(Settings(), DockerClient(), pool)
    main = Replica(
        id="m1", name="p-flowise-1", service="flowise", number=1, state="running",
        health="starting", started_at=datetime(2026, 1, 1, tzinfo=UTC), addresses={},
        probe=("curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping"),
    )  # fmt: skip
    backend.probe(main)
    assert pool.mark({"flowise": [main]}) == {"flowise": [main]}, "not counted healthy"


def test_without_a_warm_pool_the_refill_builds_no_client(monkeypatch) -> None:
    def no_client(*_: object, **__: object) -> None:
        raise AssertionError("a client built, and no service keeps a warm pool")

    monkeypatch.setattr(wiring, "docker_client", no_client)
    monkeypatch.setattr(wiring, "connections", no_client)
    assert wiring.warm_refill(Settings(), StopSignal(), WarmPool(), lambda _: None) is None


def test_a_configured_warm_pool_gets_the_refill_of_its_own_clients() -> None:
    settings = Settings.model_validate({"services": {"flowise-worker": {"warm_replicas": 1}}})
    refill = wiring.warm_refill(settings, StopSignal(), WarmPool(), lambda _: None)
    assert isinstance(refill, WarmRefill)


LEASE_TTLS = {
    "compose: the longest action and 3 intervals": ("compose", 2, 3 * 2 + 300 + 60),
    "swarm: 20 s at the default interval": ("swarm", 2, 20),
    "swarm: 3 intervals when longer": ("swarm", 10, 30),
}


@pytest.mark.parametrize(("backend", "interval", "ttl"), LEASE_TTLS.values(), ids=LEASE_TTLS.keys())
def test_the_lease_ttl(backend: str, interval: float, ttl: float) -> None:
    settings = Settings.model_validate({
        "compose": {"backend": backend, "ready_timeout_seconds": 300},
        "nginx": {"drain_timeout_seconds": 60},
        "daemon": {"interval_seconds": interval},
    })  # fmt: skip
    assert wiring.lease_ttl_seconds(settings) == ttl
