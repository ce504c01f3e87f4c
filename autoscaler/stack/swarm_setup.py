"""What `doctor` reads of a stack on a Swarm: the stack file as `up` deploys it, and the
stack's running tasks on every node, each with its service's environment and published ports
(Swarm gives every task of a service the same); the mains on this manager's node are the only
ones a command reaches. Talks to the manager's Docker engine; mock only here."""

from __future__ import annotations

import json
from typing import Any

from python_on_whales import DockerClient
from python_on_whales.utils import run

from autoscaler.actuators.replicas import Replica
from autoscaler.config import Settings
from autoscaler.runtime import wiring
from autoscaler.stack.doctor import Published, RunningContainer, StackSeen
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.swarm import deployed_services, stack_file_variables, this_node
from autoscaler.stack.swarm_plan import StackService, data_node

_SWARM_SERVICE_LABEL = "com.docker.swarm.service.name"
_NODE_UNKNOWN = "unknown"
"""The data node's id for resolving the stack file when the engine cannot tell it: doctor
checks no placement."""


def swarm_stack(docker: DockerClient, settings: Settings) -> StackSeen:
    stack = settings.compose.project_name
    mains = settings.nginx.upstream_service
    try:
        with failing_as(f"read the tasks of the stack {stack}"):
            deployed = deployed_services(docker, stack)
            node = data_node(deployed, this_node(docker))
            snapshot = wiring.replica_backend(settings, docker).replicas()
            local_mains = docker.container.list(
                filters=[("label", f"{_SWARM_SERVICE_LABEL}={stack}_{mains}")]
            )
    except StackError as error:
        services, compose_error = _resolved_stack_file(docker, settings, _NODE_UNKNOWN)
        return StackSeen(services, compose_error, (), str(error), [])
    services, compose_error = _resolved_stack_file(docker, settings, node)
    running = tuple(
        _task(replica, deployed[replica.service])
        for replicas in snapshot.values()
        for replica in replicas
        if replica.state == "running" and replica.service in deployed
    )
    spec = deployed.get(mains, StackService(mains, None))
    within_reach = [RunningContainer(c.name, mains, spec.environment) for c in local_mains]
    return StackSeen(services, compose_error, running, None, within_reach)


def _resolved_stack_file(
    docker: DockerClient, settings: Settings, node: str
) -> tuple[dict[str, Any], str | None]:
    """`docker compose config` of the stack files, with what `up` gives them beside the .env."""
    command = [*docker.client_config.docker_compose_cmd, "config", "--format", "json"]
    try:
        with failing_as("docker compose config"):
            variables = stack_file_variables(settings, node)
            resolved = json.loads(run(command, env=variables, return_stderr=False))
    except StackError as error:
        return {}, str(error)
    return resolved.get("services") or {}, None


def _task(replica: Replica, service: StackService) -> RunningContainer:
    """A running task as doctor judges a container: Swarm publishes on every address."""
    published = tuple(Published(target, "") for target in service.published)
    return RunningContainer(replica.name, replica.service, service.environment, published)
