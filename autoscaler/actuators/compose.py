"""The Docker Compose backend: lists, adds and removes a service's replicas.

Talks to the Docker engine through python-on-whales' public API; mock only here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from python_on_whales import DockerClient

from autoscaler.actuators.docker_calls import Result, Vanished, call, docker_errors
from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import (
    PAUSED,
    Replica,
    Snapshot,
    paused_replicas,
    replica_from_container,
)
from autoscaler.actuators.warm import WarmPool


class ComposeBackend:
    """One compose project on one Docker engine. Backends sharing a `pool` change the
    replicas one at a time."""

    def __init__(self, docker: DockerClient, project: str, pool: WarmPool | None = None) -> None:
        self._docker = docker
        self._project = project
        self._pool = pool or WarmPool()

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
            self._call(lambda: self._docker.container.unpause([r.id for r in replicas]))
        for replica in replicas:
            self._check_health(replica)

    def _check_health(self, replica: Replica) -> None:
        """Runs the replica's healthcheck test once by hand: Docker reports it unhealthy while
        it was paused, and probes it again only an interval later."""
        test = self._call(lambda: self._docker.container.inspect(replica.id)).config.healthcheck
        command = _probe_command(test.test if test else None)
        if not command:
            return
        try:
            self.execute(replica, command)
        except ActuatorError:
            return  # not answering yet: Docker's own probe decides
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
        with self._pool.changing:
            try:
                self._call(lambda: self._docker.container.pause(replica.id))
            finally:
                self._pool.settled(replica.id)

    def _compose_scale(self, service: str, count: int) -> None:
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
        paused = [replica.id for replica in replicas if replica.state == "paused"]
        if paused:  # a paused process cannot take its SIGTERM
            self._call(lambda: self._docker.container.unpause(paused))
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
                with docker_errors():
                    replica = replica_from_container(container)
            except Vanished:
                continue
            yield replica

    @staticmethod
    def _call(action: Callable[[], Result]) -> Result:
        return call(action)


def _probe_command(test: Sequence[str] | None) -> list[str]:
    """A healthcheck's test (`CMD ...`, `CMD-SHELL ...`) as a command to execute; none when
    there is no test."""
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        return []
    return list(test[1:]) if test[0] == "CMD" else ["sh", "-c", test[1]]
