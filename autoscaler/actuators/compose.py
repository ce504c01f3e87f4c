"""The Docker Compose backend: lists, adds and removes a service's replicas.

Talks to the Docker engine through python-on-whales: its public API, and for the one `docker
inspect` of all the project's containers its command runner and its model of the result (its
API inspects one container per call). Mock only here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from python_on_whales import DockerClient
from python_on_whales.components.container.models import ContainerInspectResult
from python_on_whales.utils import run

from autoscaler.actuators.docker_calls import Vanished, call
from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import (
    PAUSED,
    Replica,
    Snapshot,
    paused_replicas,
    replica_from_inspection,
)
from autoscaler.actuators.warm import WarmPool


class ComposeBackend:
    """One compose project on one Docker engine. Backends sharing a `pool` change the
    replicas one at a time."""

    picks_what_stops = False

    def __init__(
        self,
        docker: DockerClient,
        project: str,
        pool: WarmPool | None = None,
        prober: DockerClient | None = None,
    ) -> None:
        """`prober` runs the healthchecks by hand: a client whose commands end after a bound."""
        self._docker = docker
        self._project = project
        self._pool = pool or WarmPool()
        self._prober = prober or docker

    def replicas(self) -> Snapshot:
        by_service: Snapshot = {}
        for replica in self._inspect_project():
            by_service.setdefault(replica.service, []).append(replica)
        for replicas in by_service.values():
            replicas.sort(key=lambda replica: replica.number)
        return self._pool.mark(by_service)

    def scale_to(self, service: str, count: int) -> None:
        """`count` running replicas: warm ones unpaused first, compose starts only the rest.
        The warm ones left are kept (compose counts them as the service's)."""
        with self._pool.changing:
            replicas = self.replicas().get(service, [])
            running = sum(r.state == "running" for r in replicas)
            woken = paused_replicas(replicas)[: max(0, count - running)]
            self._wake(woken)
            if running + len(woken) != count:
                # no replica of the service is paused now: compose cannot start any while one is
                self._compose_scale(service, count + sum(r.warm for r in replicas) - len(woken))

    def _wake(self, replicas: list[Replica]) -> None:
        if replicas:
            call(lambda: self._docker.container.unpause([r.id for r in replicas]))

    def probe(self, replica: Replica) -> None:
        """Runs the replica's healthcheck test once now; when it passes, the replica counts
        healthy until Docker's own probe says so too. Docker reports a woken replica unhealthy
        (it was paused) and a new one starting, and probes it again only an interval later."""
        if not replica.probe:
            return
        try:
            _execute(self._prober, replica, replica.probe)
        except ActuatorError:
            return
        self._pool.answered(replica.id)

    def add_warming(self, service: str, count: int) -> list[Replica]:
        """`count` more replicas of the service, marked warming before anyone counts them.
        Nothing while one of its replicas is paused: compose would try to start that one, and
        Docker refuses to start a paused container."""
        with self._pool.changing:
            replicas = self.replicas().get(service, [])
            if any(r.state == PAUSED for r in replicas):
                return []
            before = {r.id for r in replicas}
            self._compose_scale(service, len(replicas) + count)
            added = [r for r in self.replicas().get(service, []) if r.id not in before]
            for replica in added:
                self._pool.warming(replica.id)
            # seen once on real Flowise: compose started two for one asked
            self._remove_extra(added[count:])
            return added[:count]

    def _remove_extra(self, replicas: list[Replica]) -> None:
        try:
            self.remove(replicas)
        finally:
            for replica in replicas:
                self._pool.settled(replica.id)

    def pause(self, replica: Replica) -> None:
        """Paused, still marked warming: the refill settles it once it holds no job."""
        with self._pool.changing:
            call(lambda: self._docker.container.pause(replica.id))

    def unpause(self, replica: Replica) -> None:
        with self._pool.changing:
            call(lambda: self._docker.container.unpause(replica.id))

    def _compose_scale(self, service: str, count: int) -> None:
        call(
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
        paused = [replica.id for replica in replicas if replica.state == "paused"]
        if paused:  # a paused process cannot take its SIGTERM
            call(lambda: self._docker.container.unpause(paused))
        call(lambda: self._docker.container.stop(ids))
        call(lambda: self._docker.container.remove(ids))

    def restart(self, replica: Replica) -> None:
        call(lambda: self._docker.container.restart(replica.id))

    def reaches(self, replica: Replica) -> bool:
        """One engine runs the whole project."""
        return True

    def execute(self, replica: Replica, command: Sequence[str]) -> str:
        return _execute(self._docker, replica, command)

    def logs(self, replica: Replica, until: datetime) -> str:
        output = call(lambda: self._docker.container.logs(replica.id, until=until))
        return output if isinstance(output, str) else ""

    def _inspect_project(self) -> list[Replica]:
        """Every container of the project, all inspected in one `docker inspect`: a call per
        container costs a second or more per listing on a busy host. One removed meanwhile is
        left out."""
        project = f"com.docker.compose.project={self._project}"
        containers = call(
            lambda: self._docker.container.list(all=True, filters=[("label", project)])
        )
        ids = [container.id for container in containers]
        try:
            return [replica_from_inspection(each) for each in self._inspect(ids)]
        except Vanished:
            return [replica_from_inspection(each) for id_ in ids for each in self._still_there(id_)]

    def _still_there(self, container_id: str) -> list[ContainerInspectResult]:
        try:
            return self._inspect([container_id])
        except Vanished:
            return []

    def _inspect(self, ids: Sequence[str]) -> list[ContainerInspectResult]:
        if not ids:
            return []
        command = [*self._docker.client_config.docker_cmd, "container", "inspect", *ids]
        output = call(lambda: run(command, return_stderr=False))
        return [ContainerInspectResult(**each) for each in json.loads(output)]


def _execute(docker: DockerClient, replica: Replica, command: Sequence[str]) -> str:
    output = call(lambda: docker.container.execute(replica.id, list(command)))
    return output if isinstance(output, str) else ""
