"""`up` and `down`: the stack started, checked healthy and routed, or stopped.

Talks to the Docker engine, to nginx through the actuators, and to the URL `up` announces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests
from python_on_whales import DockerClient

from autoscaler.actuators.replicas import Snapshot, count, paused_replicas
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.config import Settings
from autoscaler.runtime import wiring
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.files import ensure_upstream
from autoscaler.stack.startup import (
    ContainerState,
    first_start_scales,
    images_to_pull,
    initial_scales,
    readiness,
)

Progress = Callable[[str], None]

_POLL_SECONDS = 2.0
_WAITING_REPORT_SECONDS = 15.0
"""How often `up` says what it still waits for."""
_SERVING_TIMEOUT_SECONDS = 30.0
_SERVING_STREAK = 3
"""Answers in a row that `up` wants: right after a reload, nginx's old workers may still 503."""
_WILDCARDS = {"0.0.0.0", "::", ""}


@dataclass(frozen=True)
class Started:
    url: str
    replicas: dict[str, int]
    """Each scaled service's running replicas."""


def up(settings: Settings, progress: Progress) -> Started:
    require_env_file(settings)
    if ensure_upstream(settings):
        progress(f"wrote {settings.nginx.upstream_file}: nginx answers 503 until a replica is fit")
    docker = wiring.docker_client(settings)
    transaction = wiring.transaction(settings)
    _start(docker, transaction, settings, progress)
    with failing_as("route nginx to the healthy replicas"):
        snapshot = transaction.snapshot()
        transaction.reconcile(snapshot)
    url, probe = _public_url(docker, settings.nginx.service)
    wait_until_serving(probe)
    counts = _running_counts(snapshot)
    return Started(url, {name: counts.get(name, 0) for name in settings.services})


def down(settings: Settings, volumes: bool) -> None:
    with failing_as("docker compose down"):
        wiring.docker_client(settings).compose.down(
            remove_orphans=True, volumes=volumes, quiet=True
        )


def require_env_file(settings: Settings) -> None:
    env_file = settings.compose.env_path
    if not env_file.exists():
        raise StackError(
            f"{env_file} does not exist: `compose-flowise init {settings.compose.directory}` "
            "writes it"
        )


def _start(
    docker: DockerClient, transaction: ScaleTransaction, settings: Settings, progress: Progress
) -> None:
    """`docker compose up`, each scaled service at its min or at what runs already, each
    container healthy at the end. From nothing running, one main starts alone first. A service
    with warm replicas paused is left out of compose's way (it would start or remove them):
    it only scales out to its min, through the transaction, which wakes the warm ones first."""
    with failing_as("read the running stack"):
        snapshot = transaction.snapshot()
    running = _running_counts(snapshot)
    scales = initial_scales(settings.services, running)
    pooled = {s: scales.pop(s) for s in _with_paused_replicas(snapshot) if s in scales}
    first = settings.nginx.upstream_service
    staged = first_start_scales(scales, running, first)
    pull_missing_images(docker, progress)
    services = _services_but(docker, pooled) if pooled else None
    timeout = settings.compose.ready_timeout_seconds
    if staged:
        progress(f"starting one {first} alone first, to migrate the database")
        _compose_up(docker, services, staged, timeout, progress)
    listed = ", ".join(f"{name} x{count}" for name, count in {**scales, **pooled}.items())
    progress(f"starting {listed}")
    _compose_up(docker, services, scales, timeout, progress)
    if pooled:
        progress(f"keeping the warm replicas of {', '.join(pooled)} paused")
    for service, target in pooled.items():
        if target > running.get(service, 0):
            with failing_as(f"scale {service} to {target}"):
                transaction.scale(service, target, transaction.snapshot())


def _with_paused_replicas(snapshot: Snapshot) -> list[str]:
    return [service for service, replicas in snapshot.items() if paused_replicas(replicas)]


def _services_but(docker: DockerClient, left_out: Iterable[str]) -> list[str]:
    """The stack's services (those of its active profiles), but `left_out`."""
    with failing_as("read the stack's services (docker compose config)"):
        services = docker.compose.config(return_json=True).get("services") or {}
    return [service for service in services if service not in left_out]


def pull_missing_images(docker: DockerClient, progress: Progress) -> None:
    """The images compose would pull, one at a time with a line each: compose up pulls them
    too, but says nothing for minutes."""
    with failing_as("read the stack's images (docker compose config)"):
        services = docker.compose.config(return_json=True).get("services") or {}
        missing = images_to_pull(services, docker.image.exists)
    for number, image in enumerate(missing, start=1):
        progress(f"pulling {image} ({number} of {len(missing)}): can take minutes")
        with failing_as(f"docker pull {image}"):
            docker.image.pull(image, quiet=True)


def _compose_up(
    docker: DockerClient,
    services: list[str] | None,
    scales: dict[str, int],
    timeout: float,
    progress: Progress,
) -> None:
    with failing_as("docker compose up"):
        docker.compose.up(services, detach=True, scales=scales, quiet=True)
    _wait_until_ready(docker, timeout, progress)


def _running_counts(snapshot: Snapshot) -> dict[str, int]:
    return {service: count(replicas).running for service, replicas in snapshot.items()}


def _wait_until_ready(docker: DockerClient, timeout: float, progress: Progress) -> None:
    def states() -> list[ContainerState]:
        with failing_as("read the containers' health"):
            return _container_states(docker)

    wait_until_ready(states, timeout, progress, _logs_hint(docker))


def wait_until_ready(
    states: Callable[[], list[ContainerState]],
    timeout: float,
    progress: Progress,
    logs_hint: str,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Until every container is healthy: a line for each as it becomes so, and every
    `_WAITING_REPORT_SECONDS` one naming those still waited for."""
    started = clock()
    progress(f"waiting for every container to be healthy (up to {timeout:.0f}s)")
    announced: set[str] = set()
    reported = started
    while True:
        state = readiness(states())
        for name in state.healthy:
            if name not in announced:
                progress(f"  {name}: healthy ({clock() - started:.0f}s)")
                announced.add(name)
        if state.failed:
            raise StackError(f"failed: {', '.join(state.failed)}: see {logs_hint}")
        if state.ready:
            return
        waited = clock() - started
        if waited >= timeout:
            raise StackError(
                f"not healthy after {timeout:.0f}s: {', '.join(state.waiting)}; see "
                f"{logs_hint} (compose.ready_timeout_seconds sets the wait)"
            )
        if clock() - reported >= _WAITING_REPORT_SECONDS:
            progress(f"  waiting for {', '.join(state.waiting)} ({waited:.0f}s)")
            reported = clock()
        sleep(_POLL_SECONDS)


def _container_states(docker: DockerClient) -> list[ContainerState]:
    states = []
    for container in docker.compose.ps(all=True):
        state = container.state
        health = state.health.status if state.health else None
        states.append(
            ContainerState(
                container.name,
                state.status or "unknown",
                health,
                state.exit_code or 0,
                container.restart_count,
            )
        )
    return states


def _logs_hint(docker: DockerClient) -> str:
    return f"`docker compose -p {docker.client_config.compose_project_name} logs SERVICE`"


def _public_url(docker: DockerClient, nginx_service: str) -> tuple[str, str]:
    """The URL to announce, and the one to probe it at from this host."""
    with failing_as(f"find the published port of {nginx_service}"):
        host, port = docker.compose.port(nginx_service, 80)
    if port is None:
        raise StackError(f"the service {nginx_service} publishes no port for its port 80")
    if host in _WILDCARDS:
        return f"http://localhost:{port}", f"http://127.0.0.1:{port}"
    return f"http://{host}:{port}", f"http://{host}:{port}"


def wait_until_serving(url: str) -> None:
    """Until nginx routes /api/v1/ping to a replica a few times in a row."""
    deadline = time.monotonic() + _SERVING_TIMEOUT_SECONDS
    streak, answer = 0, "no answer"
    while streak < _SERVING_STREAK:
        if time.monotonic() >= deadline:
            raise StackError(f"{url}/api/v1/ping does not answer 200 through nginx: {answer}")
        try:
            status = requests.get(f"{url}/api/v1/ping", timeout=5).status_code
            answer = f"HTTP {status}"
        except requests.RequestException as error:
            status, answer = None, type(error).__name__
        streak = streak + 1 if status == 200 else 0
        time.sleep(0.2)
