"""`backup` and `restore`: the database dumped by pg_dump in the running postgres container,
the stack's .env and config beside it, all private; and back. Talks to the disk and, through
`docker exec` and `docker cp`, to the postgres container."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from python_on_whales import Container, DockerClient

from autoscaler import config
from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.errors import BadInput
from autoscaler.files import PRIVATE, write_atomically
from autoscaler.runtime import wiring
from autoscaler.stack.backup_plan import (
    CONFIG,
    DUMP,
    ENV,
    FILES,
    MANIFEST,
    Manifest,
    check_database_replaceable,
    check_folder_replaceable,
    damaged,
)
from autoscaler.stack.errors import StackError, compose_only, failing_as
from autoscaler.stack.files import (
    PlannedFiles,
    Written,
    plan_restored_files,
    write_restored_files,
)
from autoscaler.stack.init import Layout

Progress = Callable[[str], None]

POSTGRES = "postgres"
_DATABASE = ["-U", "flowise", "-d", "flowise"]
_IN_CONTAINER = "/tmp/compose-flowise-backup.dump"
_COUNT_TABLES = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"


def _by_hand_on_swarm(project: str) -> str:
    return (
        f"on the manager, pg_dump or pg_restore in the container of {project}_postgres "
        f"(`docker ps --filter name={project}_postgres`); keep .env and config.toml with the dump"
    )


def backup(settings: Settings, config_file: Path, folder: Path, now: datetime) -> Manifest:
    """Writes the backup into `folder` (new or empty; made 0700), every file 0600."""
    compose = settings.compose
    compose_only("backup", compose.backend, _by_hand_on_swarm(compose.project_name))
    docker = wiring.docker_client(settings)
    postgres = _running_postgres(docker, settings)
    _private_folder(folder)
    with failing_as("pg_dump in the postgres container"):
        # One transaction's snapshot: consistent while Flowise keeps writing.
        docker.container.execute(
            postgres, ["pg_dump", *_DATABASE, "--format=custom", "--file", _IN_CONTAINER]
        )
        try:
            docker.container.copy((postgres, _IN_CONTAINER), folder / DUMP)
        finally:
            docker.container.execute(postgres, ["rm", "-f", _IN_CONTAINER])
    (folder / DUMP).chmod(PRIVATE)
    with failing_as("copy the stack's files into the backup"):
        write_atomically(folder / ENV, settings.compose.env_path.read_bytes(), PRIVATE)
        write_atomically(folder / CONFIG, config_file.read_bytes(), PRIVATE)
    manifest = Manifest(
        project=settings.compose.project_name,
        created=now.isoformat(timespec="seconds"),
        flowise_image=_flowise_image(docker, settings),
        digests={name: _digest(folder / name) for name in FILES},
    )
    write_atomically(folder / MANIFEST, manifest.to_json(), PRIVATE)
    return manifest


def restore(
    folder: Path, layout: Layout, force: bool, progress: Progress
) -> tuple[Manifest, list[Written]]:
    """The backup in `folder` restored into the stack folder of `layout`: its files, then its
    database, into the postgres of the project its config names (started alone). Every refusal
    is checked before any file is written: a refused restore leaves the folder as it was."""
    manifest = read_backup(folder)
    env_text = (folder / ENV).read_text()
    current = parse_env(layout.env_file.read_text()) if layout.env_file.exists() else {}
    check_folder_replaceable(layout.directory, current, parse_env(env_text), force)
    planned = plan_restored_files(layout, env_text, (folder / CONFIG).read_text())
    settings = _settings_before_writing(planned, folder / ENV)
    compose = settings.compose
    compose_only("restore", compose.backend, _by_hand_on_swarm(compose.project_name))
    docker = wiring.docker_client(settings)
    _require_flowise_stopped(docker, settings)
    progress(f"starting {POSTGRES} alone, until healthy")
    with failing_as(f"start {POSTGRES}"):
        docker.compose.up([POSTGRES], detach=True, wait=True, quiet=True)
    postgres = _running_postgres(docker, settings)
    with failing_as("count the tables in postgres (psql)"):
        tables = docker.container.execute(postgres, ["psql", *_DATABASE, "-tAc", _COUNT_TABLES])
    check_database_replaceable(int(str(tables).strip()), force, settings.compose.project_name)
    written = write_restored_files(planned)
    progress(f"restoring the database of {manifest.created} (pg_restore)")
    with failing_as("pg_restore in the postgres container"):
        docker.container.copy(folder / DUMP, (postgres, _IN_CONTAINER))
        try:
            docker.container.execute(postgres, [
                "pg_restore", *_DATABASE, "--clean", "--if-exists", "--no-owner",
                "--single-transaction", "--exit-on-error", _IN_CONTAINER,
            ])  # fmt: skip
        finally:
            docker.container.execute(postgres, ["rm", "-f", _IN_CONTAINER])
    return manifest, written


def _settings_before_writing(planned: PlannedFiles, backed_up_env: Path) -> Settings:
    """The restored config's settings, read before it is written. Until the folder's `.env` is
    written, compose reads the backup's (the same values but the folder's paths, which starting
    postgres does not use): the folder's may be missing, or hold another stack's secrets."""
    config_file = planned.layout.config_file
    settings = config.parse(planned.text(config_file), str(config_file))
    compose = settings.compose.model_copy(update={"env_file": backed_up_env})
    return settings.model_copy(update={"compose": compose})


def read_backup(folder: Path) -> Manifest:
    """The backup's manifest, once every file is checked whole."""
    manifest_file = folder / MANIFEST
    if not manifest_file.is_file():
        raise BadInput(f"{folder} is not a compose-flowise backup: it has no {MANIFEST}")
    manifest = Manifest.from_json(manifest_file.read_text(), manifest_file)
    digests = {n: _digest(folder / n) if (folder / n).is_file() else None for n in FILES}
    problems = damaged(manifest, digests)
    if problems:
        raise BadInput(f"the backup in {folder} is damaged: {'; '.join(problems)}")
    return manifest


def _private_folder(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BadInput(f"{folder} exists and is not an empty folder: give a new one")
    with failing_as(f"create {folder}"):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)


def _running_postgres(docker: DockerClient, settings: Settings) -> Container:
    with failing_as(f"find the {POSTGRES} container"):
        running = [c for c in docker.compose.ps([POSTGRES]) if c.state.running]
    if not running:
        raise StackError(
            f"{POSTGRES} of {settings.compose.project_name} is not running: "
            "`compose-flowise up` starts it"
        )
    return running[0]


def _require_flowise_stopped(docker: DockerClient, settings: Settings) -> None:
    """Flowise must not use the database while it is replaced."""
    with failing_as("list the running containers"):
        running = [c.name for c in docker.compose.ps(list(settings.services)) if c.state.running]
    if running:
        raise StackError(
            f"Flowise is running ({', '.join(running)}): stop it first (`compose-flowise down`)"
        )


def _flowise_image(docker: DockerClient, settings: Settings) -> str:
    with failing_as("docker compose config"):
        services = docker.compose.config(return_json=True).get("services") or {}
    return str(services.get(settings.nginx.upstream_service, {}).get("image", "unknown"))


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()
