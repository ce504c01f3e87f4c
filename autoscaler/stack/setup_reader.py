"""Gathers what `doctor` checks: the env file, the compose files as Docker Compose resolves
them, and the running containers. Talks to the disk and the Docker engine; mock only here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from python_on_whales import Container, DockerClient

from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.runtime import wiring
from autoscaler.runtime.state import DeafMainEvent, StateError, StateFile, recent_deaf_mains
from autoscaler.stack.doctor import Published, RunningContainer, Setup
from autoscaler.stack.errors import StackError, failing_as

_SERVICE_LABEL = "com.docker.compose.service"


def read_setup(settings: Settings) -> Setup:
    env_file = settings.compose.env_path
    values, mode = _read_env_file(env_file)
    docker = wiring.docker_client(settings)
    services, compose_error = _resolved_services(docker)
    running, docker_error = _running_containers(docker, settings.compose.project_name)
    mains = settings.nginx.upstream_service
    return Setup(
        env_file=env_file,
        env_values=values,
        env_file_mode=mode,
        services=services,
        mains=mains,
        workers=tuple(name for name in settings.services if name != mains),
        max_replicas={name: p.max_replicas for name, p in settings.services.items()},
        running=running,
        compose_error=compose_error,
        docker_error=docker_error,
        deaf_mains=_deaf_mains(settings),
    )


def _deaf_mains(settings: Settings) -> tuple[DeafMainEvent, ...]:
    """What the daemon's state file holds of the last day's deaf mains; none without one (an
    unreadable state file is `status`'s to report)."""
    try:
        state = StateFile(settings.daemon.state_file).read()
    except StateError:
        return ()
    return recent_deaf_mains(state.deaf_mains, time.time())


def _read_env_file(path: Path) -> tuple[dict[str, str] | None, int | None]:
    if not path.exists():
        return None, None
    with failing_as("read the env file"):
        return parse_env(path.read_text()), path.stat().st_mode


def _resolved_services(docker: DockerClient) -> tuple[dict[str, Any], str | None]:
    try:
        with failing_as("docker compose config"):
            return docker.compose.config(return_json=True).get("services") or {}, None
    except StackError as error:
        return {}, str(error)


def _running_containers(
    docker: DockerClient, project: str
) -> tuple[tuple[RunningContainer, ...], str | None]:
    """By the project's label: they are there even when the compose files no longer resolve."""
    label = f"com.docker.compose.project={project}"
    try:
        with failing_as("list the running containers"):
            listed = docker.container.list(filters=[("label", label)])
            return tuple(_running(c) for c in listed), None
    except StackError as error:
        return (), str(error)


def _running(container: Container) -> RunningContainer:
    environment = dict(item.split("=", 1) for item in container.config.env or [] if "=" in item)
    published = tuple(
        Published(int(port.split("/")[0]), binding.get("HostIp", ""))
        for port, bindings in (container.network_settings.ports or {}).items()
        for binding in bindings or []
    )
    service = (container.config.labels or {}).get(_SERVICE_LABEL, "")
    return RunningContainer(container.name, service, environment, published)
