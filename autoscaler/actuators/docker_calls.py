"""Docker commands run through python-on-whales, their failures as ActuatorError: one meaning
for every backend of what the engine or the CLI answered."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from python_on_whales import ClientNotFoundError, DockerClient
from python_on_whales.exceptions import DockerException, NoSuchContainer
from python_on_whales.utils import run

from autoscaler.actuators.errors import ActuatorError

Result = TypeVar("Result")

# What coreutils' `timeout` exits with when it ended the command at its deadline.
_TIMED_OUT = 124


class Vanished(ActuatorError):
    """The container was removed between the list and its inspection."""


def call(action: Callable[[], Result]) -> Result:
    with docker_errors():
        return action()


def docker_output(docker: DockerClient, arguments: list[str]) -> str:
    """What a docker command the client's CLI runs prints: for the commands python-on-whales
    does not wrap, or wraps with a lookup per item listed."""
    command = [*docker.client_config.docker_cmd, *arguments]
    return call(lambda: str(run(command, return_stderr=False)))


@contextmanager
def docker_errors() -> Iterator[None]:
    try:
        yield
    except NoSuchContainer as error:
        raise Vanished(_command(error), "no such container") from None
    except DockerException as error:
        detail = error.stderr or error.stdout or _exit_reason(error.return_code)
        raise ActuatorError(_command(error), detail) from None
    except ClientNotFoundError:
        raise ActuatorError("docker", "the docker command is not installed") from None


def _exit_reason(return_code: int) -> str:
    return "no answer before the deadline" if return_code == _TIMED_OUT else f"exit {return_code}"


def _command(error: DockerException) -> str:
    return shlex.join(str(part) for part in error.docker_command)
