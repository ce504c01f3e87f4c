"""The one error the stack's commands report: what failed, in words an operator can act on."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from python_on_whales import ClientNotFoundError, DockerException

from autoscaler.errors import OperatorError


class StackError(OperatorError):
    pass


def compose_only(what: str, backend: str, instead: str) -> None:
    """A clear refusal of `what`, which works on a Compose stack only, on another backend."""
    if backend != "compose":
        raise StackError(f"{what} works on a compose stack only, not on the {backend} backend "
                         f"yet: {instead}")  # fmt: skip


@contextmanager
def failing_as(action: str) -> Iterator[None]:
    """Turns a Docker, actuator or file error into a StackError that starts with `action`.

    Only the last line of Docker's standard error is kept: the error itself, after compose's
    progress lines. Its standard output can hold the resolved settings, secrets included.
    """
    try:
        yield
    except DockerException as error:
        detail = _last_line(error.stderr) or f"exit status {error.return_code}"
        raise StackError(f"{action}: {detail}") from None
    except ClientNotFoundError:
        raise StackError(f"{action}: the docker command is not installed") from None
    except OperatorError as error:
        raise StackError(f"{action}: {error}") from None
    except OSError as error:
        where = f" ({error.filename})" if error.filename else ""
        raise StackError(f"{action}: {error.strerror or error}{where}") from None


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
