"""`docker stack rm` as `down` runs it on a Swarm (the engine faked): run again while a task
that still stops holds the stack's network, not for any other error."""

from __future__ import annotations

from typing import Any

import pytest
from python_on_whales import DockerException

from autoscaler.stack import swarm
from autoscaler.stack.errors import StackError

IN_USE = (b"Failed to remove network n1: Error response from daemon: rpc error: code = "
          b"FailedPrecondition desc = network n1 is in use by task t1failed to remove some "
          b"resources from stack: cf\n")  # fmt: skip


class Engine:
    """`docker stack rm` failing with each of `errors` in turn, then succeeding."""

    def __init__(self, *errors: bytes) -> None:
        self.stack = self
        self.errors = list(errors)
        self.removals = 0

    def remove(self, stack: Any) -> None:
        self.removals += 1
        if self.errors:
            raise DockerException(["docker", "stack", "rm", stack], 1, b"", self.errors.pop(0))


def test_the_stack_is_removed_again_while_a_stopping_task_holds_its_network() -> None:
    engine = Engine(IN_USE, IN_USE)
    swarm.remove_stack(engine, "cf")  # type: ignore[arg-type]
    assert engine.removals == 3


def test_any_other_failure_is_the_operator_s_to_read() -> None:
    engine = Engine(b"Error response from daemon: This node is not a swarm manager.\n")
    with pytest.raises(StackError, match=r"docker stack rm cf: .*not a swarm manager"):
        swarm.remove_stack(engine, "cf")  # type: ignore[arg-type]
    assert engine.removals == 1
