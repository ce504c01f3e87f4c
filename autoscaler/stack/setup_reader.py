"""Gathers what `doctor` checks: the env file, the compose files as Docker Compose resolves
them, and the running containers (on a Swarm, `swarm_setup.py`: the stack's tasks on every
node). Talks to the disk and the Docker engine; mock only here."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from python_on_whales import Container, DockerClient
from python_on_whales.exceptions import DockerException

from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.runtime import wiring
from autoscaler.runtime.redis_ping import redis_down
from autoscaler.runtime.state import DeafMainEvent, StateError, recent_deaf_mains
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.stack.doctor import (
    BucketProbe,
    Published,
    RunningContainer,
    Setup,
    StackSeen,
)
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.swarm_setup import swarm_stack

_SERVICE_LABEL = "com.docker.compose.service"
# Run in a main by `sh -c`: its S3 settings and keys are read from its own environment, so they
# never pass through here, and the keys reach curl on its standard input (printf is the shell's
# own): a command line is readable by every user of the host. Prints curl's complaint, if any,
# then the HTTP status (000: none).
BUCKET_PROBE_SCRIPT = r"""
region=${S3_STORAGE_REGION:-us-east-1}
endpoint=${S3_ENDPOINT_URL:-https://s3.$region.amazonaws.com}
printf 'user = "%s:%s"\n' "$S3_STORAGE_ACCESS_KEY_ID" "$S3_STORAGE_SECRET_ACCESS_KEY" |
curl -sS -K - -I -o /dev/null --max-time 5 -w '\n%{http_code}' --aws-sigv4 "aws:amz:$region:s3" \
    "${endpoint%/}/$S3_STORAGE_BUCKET_NAME" 2>&1
true
"""
_AWS_ENDPOINT = "https://s3.{region}.amazonaws.com"


def read_setup(settings: Settings) -> Setup:
    env_file = settings.compose.env_path
    values, mode = _read_env_file(env_file)
    docker = wiring.docker_client(settings)
    seen = _READERS[settings.compose.backend](docker, settings)
    mains = settings.nginx.upstream_service
    mains_run = any(c.service == mains for c in seen.running)
    return Setup(
        env_file=env_file,
        env_values=values,
        env_file_mode=mode,
        services=seen.services,
        mains=mains,
        workers=tuple(name for name in settings.services if name != mains),
        max_replicas={name: p.max_replicas for name, p in settings.services.items()},
        running=seen.running,
        compose_error=seen.compose_error,
        docker_error=seen.docker_error,
        deaf_mains=_deaf_mains(settings),
        bucket_probe=_probe_bucket(docker, seen.mains_within_reach),
        redis_error=redis_down(settings) if mains_run else None,
        watched_queues=_watched_queues(settings),
    )


def _compose_stack(docker: DockerClient, settings: Settings) -> StackSeen:
    services, compose_error = _resolved_services(docker)
    running, docker_error = _running_containers(docker, settings.compose.project_name)
    mains = [c for c in running if c.service == settings.nginx.upstream_service]
    return StackSeen(services, compose_error, running, docker_error, mains)


def _watched_queues(settings: Settings) -> dict[str, tuple[str, ...]]:
    return {
        name: tuple(signal.queue for signal in policy.signals if isinstance(signal, QueueSignal))
        for name, policy in settings.services.items()
    }


def _probe_bucket(docker: DockerClient, mains: list[RunningContainer]) -> BucketProbe | None:
    """The bucket as the first running main with S3 storage meets it; None without one."""
    main = next((m for m in mains if m.environment.get("STORAGE_TYPE") == "s3"), None)
    if main is None:
        return None
    try:
        output = docker.container.execute(main.name, ["sh", "-c", BUCKET_PROBE_SCRIPT])
    except DockerException:
        return None  # gone or stopping: the listing just before is the other checks' to judge
    return bucket_probe(main, str(output))


def bucket_probe(main: RunningContainer, output: str) -> BucketProbe:
    """The probe's outcome from its output: curl's complaint lines, then the HTTP status."""
    *complaint, status = output.strip().splitlines() or ["000"]
    answered = status.isdigit() and status != "000"
    environment = main.environment
    region = environment.get("S3_STORAGE_REGION") or "us-east-1"
    return BucketProbe(
        replica=main.name,
        bucket=environment.get("S3_STORAGE_BUCKET_NAME", ""),
        endpoint=environment.get("S3_ENDPOINT_URL") or _AWS_ENDPOINT.format(region=region),
        http_status=int(status) if answered else None,
        error="" if answered else " ".join(line.strip() for line in complaint) or "no answer",
    )


def _deaf_mains(settings: Settings) -> tuple[DeafMainEvent, ...]:
    """What the daemon's state file holds of the last day's deaf mains; none without one (an
    unreadable state file is `status`'s to report)."""
    try:
        state = wiring.state_store(settings).read()
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


_READERS: dict[str, Callable[[DockerClient, Settings], StackSeen]] = {
    "compose": _compose_stack,
    "swarm": swarm_stack,
}
