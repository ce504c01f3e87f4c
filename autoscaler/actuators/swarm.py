"""The Docker Swarm backend: a stack's services, scaled by `docker service scale`, their
replicas read from the services' tasks.

Talks to a manager's engine through python-on-whales. `execute` reaches only the containers of
that manager's node (`reaches`): nginx's upstream is kept by the daemon on nginx's node; `probe`
asks tasks on any node through the local-ports container `up` started on it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from python_on_whales import DockerClient
from python_on_whales.utils import run

from autoscaler.actuators.answers import ProbeAnswers
from autoscaler.actuators.docker_calls import call, docker_output
from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.swarm_jobs import JOB_START_SECONDS, NodeJob, run_job
from autoscaler.actuators.tasks import (
    STARTED,
    asked_at,
    container_id,
    listed_tasks,
    snapshot_from_tasks,
    stop_grace_seconds,
    task_image,
    task_nodes,
)
from autoscaler.locations import local_ports_name, stack_network_name

# What `docker stack ps` says, exiting 1, for a stack without any task
_NOTHING_IN_STACK = "nothing found in stack"


class SwarmBackend:
    """One stack (`docker stack deploy`) on a Swarm, through one manager's engine."""

    picks_what_stops = True
    """Swarm stops the tasks it picks; the shipped stack's mains drain on SIGTERM, workers
    finish their jobs."""

    def __init__(
        self, docker: DockerClient, stack: str, prober: DockerClient | None = None
    ) -> None:
        """`prober` runs the healthchecks by hand: a client whose commands end after a bound."""
        self._docker = docker
        self._stack = stack
        self._prober = prober or docker
        self._containers: dict[str, str] = {}
        self._answers = ProbeAnswers()
        self._node: str | None = None

    def replicas(self) -> Snapshot:
        listing = self._stack_ps()
        services = listed_tasks(self._stack, listing)
        inspected = self._inspect_tasks(list(services))
        self._containers = {t["ID"]: c for t in inspected if (c := container_id(t))}
        return self._answers.mark(snapshot_from_tasks(services, inspected, task_nodes(listing)))

    def scale_to(self, service: str, count: int) -> None:
        """Swarm starts or stops tasks until `count` run; detached: the transaction waits for
        them to become fit. Swarm keeps no paused replicas, so there is no warm pool here."""
        name = f"{self._stack}_{service}"
        call(lambda: self._docker.service.scale({name: count}, detach=True))

    def probe(self, replica: Replica) -> None:
        """Runs the task's healthcheck test from the local-ports container, on the stack's
        network, asking the task's address instead of its own loopback: the task may run on
        another node, out of this engine's reach. When it passes, the task counts healthy until
        Swarm reports it so (Swarm probes a new task only an interval after it starts). A test
        that asks no URL on the loopback, or a manager without that container: Swarm's word.
        Only a task whose container runs (Swarm's `starting`): the address of one still being
        prepared does not refuse a connection but lets it wait."""
        address = replica.addresses.get(stack_network_name(self._stack))
        probe = asked_at(replica.probe, address) if address else ()
        if not probe or replica.health != STARTED:
            return
        forwarder = local_ports_name(self._stack)
        try:
            call(lambda: self._prober.container.execute(forwarder, list(probe)))
        except ActuatorError:
            return
        self._answers.answered(replica.id)

    def remove(self, replicas: Sequence[Replica]) -> None:
        """As many fewer tasks of each service. Swarm, not we, picks which tasks stop: it
        keeps the spread over nodes even, and cannot be told to stop one task."""
        for service, fewer in Counter(r.service for r in replicas).items():
            running = self.replicas().get(service, [])
            self.scale_to(service, max(0, len(running) - fewer))

    def restart(self, replica: Replica) -> None:
        """Stops the task's container: Swarm replaces the task by a new one. On another node,
        whose containers this manager's engine does not reach, through that node's engine: by a
        one-shot job placed there (swarm_jobs.py)."""
        if self.reaches(replica):
            container = self._container(replica)
            call(lambda: self._docker.container.stop(container))
            return
        task, container = self._task(replica)
        job = NodeJob(
            stack=self._stack,
            name=f"{self._stack}_stop-{container[:12]}",
            image=task_image(task),
            action="stop",
            container=container,
            constraint=f"node.id=={task.get('NodeID', '')}",
        )
        what = f"stop {replica.name} on {replica.node}"
        run_job(self._docker_output, job, what, stop_grace_seconds(task) + JOB_START_SECONDS)

    def reaches(self, replica: Replica) -> bool:
        """The task runs on this manager's own node."""
        return bool(replica.node) and replica.node == self._node_name()

    def execute(self, replica: Replica, command: Sequence[str]) -> str:
        container = self._container(replica)
        output = call(lambda: self._docker.container.execute(container, list(command)))
        return output if isinstance(output, str) else ""

    def logs(self, replica: Replica, until: datetime) -> str:
        """What the task logged, from whichever node runs it. `docker service logs` has no
        `--until`: the whole log, which holds what was logged until then. (python-on-whales'
        `service.logs` takes a service only.)"""
        command = [*self._docker.client_config.docker_cmd, "service", "logs", "--raw", replica.id]
        output, errors = call(lambda: run(command, return_stderr=True))
        return output + errors

    def _node_name(self) -> str:
        """This manager's node, named as `docker stack ps` names a task's (its hostname)."""
        if self._node is None:
            self._node = call(lambda: self._docker.system.info()).name or ""
        return self._node

    def _container(self, replica: Replica) -> str:
        return self._containers.get(replica.id) or self._task(replica)[1]

    def _task(self, replica: Replica) -> tuple[dict[str, Any], str]:
        """The task's `docker inspect`, and its container's id."""
        tasks = self._inspect_tasks([replica.id])
        container = container_id(tasks[0]) if tasks else None
        if container is None:
            raise ActuatorError(f"find the container of {replica.name}", "it has none yet")
        return tasks[0], container

    def _stack_ps(self) -> str:
        """The tasks Swarm wants running, one JSON object a line; none before a deploy."""
        try:
            return self._docker_output(["stack", "ps", self._stack, "--no-trunc",
                                        "--filter", "desired-state=running",
                                        "--format", "{{json .}}"])  # fmt: skip
        except ActuatorError as error:
            if _NOTHING_IN_STACK in error.detail:
                return ""
            raise

    def _inspect_tasks(self, ids: list[str]) -> list[dict[str, Any]]:
        """The tasks' `docker inspect`: python-on-whales' Task model leaves out the network
        attachments, where a task's own addresses are."""
        if not ids:
            return []
        tasks = json.loads(self._docker_output(["inspect", "--type", "task", *ids]))
        return tasks if isinstance(tasks, list) else []

    def _docker_output(self, arguments: list[str]) -> str:
        return docker_output(self._docker, arguments)
