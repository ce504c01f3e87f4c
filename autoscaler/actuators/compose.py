"""The Docker Compose backend: lists, adds and removes a service's replicas.

Talks to the Docker engine through python-on-whales' public API; mock only here.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from python_on_whales import ClientNotFoundError, DockerClient
from python_on_whales.exceptions import DockerException, NoSuchContainer

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica, Snapshot, replica_from_container

Result = TypeVar("Result")


class ComposeBackend:
    """One compose project on one Docker engine."""

    def __init__(self, docker: DockerClient, project: str) -> None:
        self._docker = docker
        self._project = project

    def replicas(self) -> Snapshot:
        by_service: Snapshot = {}
        for replica in self._inspect_project():
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

    def restart(self, replica: Replica) -> None:
        self._call(lambda: self._docker.container.restart(replica.id))

    def execute(self, replica: Replica, command: Sequence[str]) -> str:
        output = self._call(lambda: self._docker.container.execute(replica.id, list(command)))
        return output if isinstance(output, str) else ""

    def logs(self, replica: Replica, until: datetime) -> str:
        output = self._call(lambda: self._docker.container.logs(replica.id, until=until))
        return output if isinstance(output, str) else ""

    def _inspect_project(self) -> Iterator[Replica]:
        """Every container of the project, inspected; one removed meanwhile is left out."""
        project = f"com.docker.compose.project={self._project}"
        containers = self._call(
            lambda: self._docker.container.list(all=True, filters=[("label", project)])
        )
        for container in containers:
            try:
                with _docker_errors():
                    replica = replica_from_container(container)
            except _Vanished:
                continue
            yield replica

    @staticmethod
    def _call(action: Callable[[], Result]) -> Result:
        with _docker_errors():
            return action()


class _Vanished(ActuatorError):
    """The container was removed between the list and its inspection."""


@contextmanager
def _docker_errors() -> Iterator[None]:
    try:
        yield
    except NoSuchContainer as error:
        raise _Vanished(_command(error), "no such container") from None
    except DockerException as error:
        detail = error.stderr or error.stdout or _exit_reason(error.return_code)
        raise ActuatorError(_command(error), detail) from None
    except ClientNotFoundError:
        raise ActuatorError("docker", "the docker command is not installed") from None


# What coreutils' `timeout` exits with when it ended the command at its deadline.
_TIMED_OUT = 124


def _exit_reason(return_code: int) -> str:
    return "no answer before the deadline" if return_code == _TIMED_OUT else f"exit {return_code}"


def _command(error: DockerException) -> str:
    return shlex.join(str(part) for part in error.docker_command)
