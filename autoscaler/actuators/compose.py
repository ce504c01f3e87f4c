"""The Docker Compose backend: lists, adds and removes a service's replicas.

Talks to the Docker engine through python-on-whales; mock only here. A second backend (Docker
Swarm) implements the same `ReplicaBackend` protocol.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

from python_on_whales import DockerClient
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.inspect import replica_from_inspect
from autoscaler.actuators.replicas import Replica

Result = TypeVar("Result")


class ReplicaBackend(Protocol):
    def replicas(self) -> dict[str, list[Replica]]:
        """Every service's replicas in the project, running or not."""

    def scale_to(self, service: str, count: int) -> None:
        """Bring the service to `count` replicas, leaving the existing ones untouched."""

    def remove(self, replicas: Sequence[Replica]) -> None:
        """Stop (with each one's grace period) and remove exactly these replicas."""

    def execute(self, replica: Replica, command: Sequence[str]) -> str:
        """Run a command inside a replica; its standard output."""


class ComposeBackend:
    """One compose project on one Docker engine."""

    def __init__(self, docker: DockerClient, project: str) -> None:
        self._docker = docker
        self._project = project

    def replicas(self) -> dict[str, list[Replica]]:
        by_service: dict[str, list[Replica]] = {}
        for data in self._inspect_project():
            replica = replica_from_inspect(data)
            by_service.setdefault(replica.service, []).append(replica)
        for replicas in by_service.values():
            replicas.sort(key=lambda replica: replica.number)
        return by_service

    def scale_to(self, service: str, count: int) -> None:
        self._call(
            lambda: self._docker.compose.up(
                services=[service],
                scales={service: count},
                detach=True,
                recreate=False,
                dependencies=False,
                quiet=True,
            )
        )

    def remove(self, replicas: Sequence[Replica]) -> None:
        if not replicas:
            return
        ids = [replica.id for replica in replicas]
        self._call(lambda: self._docker.container.stop(ids))
        self._call(lambda: self._docker.container.remove(ids))

    def execute(self, replica: Replica, command: Sequence[str]) -> str:
        return self._call(lambda: self._docker.container.execute(replica.id, list(command))) or ""

    def _inspect_project(self) -> list[dict]:
        """`docker container inspect` of every container of the project, in one call.

        A container may vanish between the list and the inspect: then list again, once.
        """
        for attempt in range(2):
            ids = self._call(lambda: run([*self._docker_command, *self._list_args])).split()
            if not ids:
                return []
            try:
                return json.loads(run([*self._docker_command, "container", "inspect", *ids]))
            except DockerException as error:
                if attempt == 1:
                    raise _actuator_error(error) from None
        return []

    @property
    def _docker_command(self) -> list[str]:
        return list(self._docker.container.docker_cmd)

    @property
    def _list_args(self) -> list[str]:
        label = f"label=com.docker.compose.project={self._project}"
        return ["container", "list", "--all", "--quiet", "--no-trunc", "--filter", label]

    @staticmethod
    def _call(action: Callable[[], Result]) -> Result:
        with _docker_errors():
            return action()


@contextmanager
def _docker_errors() -> Iterator[None]:
    try:
        yield
    except DockerException as error:
        raise _actuator_error(error) from None


def _actuator_error(error: DockerException) -> ActuatorError:
    command = shlex.join(str(part) for part in error.docker_command)
    return ActuatorError(command, error.stderr or error.stdout or f"exit {error.return_code}")
