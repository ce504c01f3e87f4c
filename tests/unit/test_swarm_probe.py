"""A new task's healthcheck run by hand on a Swarm: from the manager's local-ports container,
at the task's address (the engine's I/O faked)."""

from __future__ import annotations

import json
from typing import Any

from test_swarm_tasks import STACK, stack_ps, task

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.swarm import SwarmBackend

PING = ["CMD", "curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping"]


class Prober:
    """What `docker exec` was asked to run, and whether the command passes."""

    def __init__(self, passes: bool = True) -> None:
        self.ran: list[tuple[str, list[str]]] = []
        self.passes = passes
        self.container = self

    def execute(self, container: str, command: list[str]) -> str:
        self.ran.append((container, command))
        if not self.passes:
            raise ActuatorError("run the healthcheck", "exit 22")
        return ""


class Stack(SwarmBackend):
    """The backend over tasks held in memory instead of a manager's answers."""

    def __init__(self, tasks: list[dict[str, Any]], prober: Prober, docker: Any = None) -> None:
        super().__init__(docker=docker, stack=STACK, prober=prober)
        self.tasks = tasks

    def _stack_ps(self) -> str:
        return stack_ps(*((t["ID"], f"{STACK}_flowise.{t['Slot']}") for t in self.tasks))

    def _inspect_tasks(self, ids: list[str]) -> list[dict[str, Any]]:
        return json.loads(json.dumps([t for t in self.tasks if t["ID"] in ids]))


def test_a_started_task_that_answers_at_its_address_counts_fit_at_once() -> None:
    prober = Prober()
    stack = Stack([task("t1", 1, state="starting", address="10.0.1.7", healthcheck=PING)], prober)
    [replica] = stack.replicas()["flowise"]
    assert not replica.routable
    stack.probe(replica)
    assert prober.ran == [
        (f"{STACK}_local-ports", ["curl", "-fsS", "http://10.0.1.7:3000/api/v1/ping"])
    ]
    assert stack.replicas()["flowise"][0].routable


def test_a_task_that_does_not_answer_waits_for_swarm_s_word() -> None:
    stack = Stack([task("t1", 1, state="starting", address="10.0.1.7", healthcheck=PING)],
                  Prober(passes=False))  # fmt: skip
    stack.probe(stack.replicas()["flowise"][0])
    assert not stack.replicas()["flowise"][0].routable


def test_a_task_without_a_running_container_or_a_probe_from_outside_is_not_asked() -> None:
    prober = Prober()
    tasks = [
        task("t1", 1, state="preparing", address="10.0.1.7", healthcheck=PING),
        task("t2", 2, state="starting", address="10.0.1.8", healthcheck=["CMD", "pg_isready"]),
        task("t3", 3, state="starting", healthcheck=PING),
    ]
    stack = Stack(tasks, prober)
    for replica in stack.replicas()["flowise"]:
        stack.probe(replica)
    assert prober.ran == []
    assert not any(r.routable for r in stack.replicas()["flowise"])


class Engine:
    """`docker info` of a manager's engine: the node it runs on."""

    def __init__(self, node: str) -> None:
        self.system = self
        self.node = node

    def info(self) -> Any:
        return type("Info", (), {"name": self.node})()


def test_only_tasks_on_the_manager_s_own_node_are_within_reach() -> None:
    """`docker exec` through a manager's engine reaches only its own node's containers."""
    tasks = [task("t1", 1, address="10.0.1.7")]
    [replica] = Stack(tasks, Prober()).replicas()["flowise"]  # on node-a
    assert Stack(tasks, Prober(), docker=Engine("node-a")).reaches(replica)
    assert not Stack(tasks, Prober(), docker=Engine("node-b")).reaches(replica)
