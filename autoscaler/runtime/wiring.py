"""The one place that builds real clients from the config. Talks to nothing by itself; reads
only the stack's env file, for what the readers should know of the stack (WORKER_CONCURRENCY)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import redis

from autoscaler.actuators.backend import ReplicaBackend
from autoscaler.actuators.main_restart import MainRestart
from autoscaler.actuators.plan import Routing
from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.actuators.upstream import NginxUpstream
from autoscaler.actuators.warm import WarmPool
from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.runtime.actions import Actions
from autoscaler.runtime.autoscaler import Autoscaler
from autoscaler.runtime.lease import Lease
from autoscaler.runtime.main_watch import MainWatch
from autoscaler.runtime.observe import ListedEachTime, ReplicaSource, Sensors
from autoscaler.runtime.redis_state import RedisState
from autoscaler.runtime.replica_watch import ReplicaWatch
from autoscaler.runtime.state import StateFile, StateStore
from autoscaler.runtime.warm_refill import PoolSpec, WarmRefill
from autoscaler.runtime.worker_jobs import WorkerJobs
from autoscaler.signals import Connections, Reader
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.signals.bullmq_reads import ClientList
from autoscaler.stopping import StopSignal

if TYPE_CHECKING:  # imported where used: python-on-whales and requests take a good part of a
    # second to import, and `status` from a fresh tick talks to neither Docker nor nginx.
    from python_on_whales import DockerClient

    from autoscaler.actuators.compose import ComposeBackend
    from autoscaler.actuators.swarm import SwarmBackend


PROBE_TIMEOUT_SECONDS = 10.0
"""A healthcheck run by hand is ended after this: a main that accepts and never answers must
not hold a scale-out forever (the shipped healthcheck's own timeout is 3 s)."""
SWARM_LEASE_SECONDS = 20.0
"""The lease's shortest time-to-live on a Swarm: a standby takes over within about this (and
one interval) of the leader's death."""


def docker_client(
    settings: Settings, timeout_seconds: float | None = None, env_over: Path | None = None
) -> DockerClient:
    """The project's Docker client; each docker command it runs is ended after `timeout_seconds`
    when given (the CLI itself waits forever on an engine that accepts and never answers).
    `env_over`: an env file whose values compose takes over the stack's (an upgrade's image)."""
    from python_on_whales import DockerClient

    compose = settings.compose
    deadline = ["timeout", f"{timeout_seconds:g}"] if timeout_seconds else []
    env_files: list[str | Path] = [compose.env_file] if compose.env_file else []
    if env_over is not None:  # any --env-file stops compose reading the default one
        env_files = [compose.env_path, env_over]
    return DockerClient(
        client_call=[*deadline, "docker"],
        compose_files=[compose.directory / file for file in compose.files],  # relative to it
        compose_project_name=compose.project_name,
        compose_project_directory=compose.directory,
        compose_env_files=env_files,
    )


def transaction(
    settings: Settings,
    stop: StopSignal | None = None,
    opened: Connections | None = None,
    docker_timeout_seconds: float | None = None,
    pool: WarmPool | None = None,
    env_over: Path | None = None,
) -> ScaleTransaction:
    """The scaling transaction; its waits end at once when `stop` is requested. It sees the
    workers' jobs through `opened` (by default, clients of its own); each docker command is
    ended after `docker_timeout_seconds` when given. `pool`: the warm pool a refill in this
    process shares with it. `env_over`: see `docker_client`."""
    docker = docker_client(settings, docker_timeout_seconds, env_over)
    backend = replica_backend(settings, docker, pool)
    upstream = NginxUpstream(backend, settings.nginx.upstream_file)
    pause = (stop or StopSignal()).pause
    jobs = worker_jobs(settings, opened or connections(settings), backend)
    return ScaleTransaction(backend, upstream, routing(settings), time.monotonic, pause, jobs)


def replica_backend(
    settings: Settings, docker: DockerClient, pool: WarmPool | None = None
) -> ReplicaBackend:
    """The backend `[compose] backend` names."""
    return BACKENDS[settings.compose.backend](settings, docker, pool)


def compose_backend(
    settings: Settings, docker: DockerClient, pool: WarmPool | None = None
) -> ComposeBackend:
    from autoscaler.actuators.compose import ComposeBackend

    prober = docker_client(settings, timeout_seconds=PROBE_TIMEOUT_SECONDS)
    return ComposeBackend(docker, settings.compose.project_name, pool, prober)


def swarm_backend(
    settings: Settings, docker: DockerClient, pool: WarmPool | None = None
) -> SwarmBackend:
    """The stack named `project_name`; Swarm keeps no warm pool."""
    from autoscaler.actuators.swarm import SwarmBackend

    prober = docker_client(settings, timeout_seconds=PROBE_TIMEOUT_SECONDS)
    return SwarmBackend(docker, settings.compose.project_name, prober)


BACKENDS: dict[str, Callable[[Settings, DockerClient, WarmPool | None], ReplicaBackend]] = {
    "compose": compose_backend,
    "swarm": swarm_backend,
}


def routing(settings: Settings) -> Routing:
    nginx = settings.nginx
    return Routing(
        nginx_service=nginx.service,
        upstream_service=nginx.upstream_service,
        upstream_port=nginx.upstream_port,
        ready_timeout_seconds=settings.compose.ready_timeout_seconds,
        drain_timeout_seconds=nginx.drain_timeout_seconds,
    )


def worker_jobs(settings: Settings, opened: Connections, backend: ReplicaBackend) -> WorkerJobs:
    """The jobs each worker runs, for each service that takes a queue's jobs."""
    queues = {
        service: [s.open_reader(opened) for s in policy.signals if isinstance(s, QueueSignal)]
        for service, policy in settings.services.items()
    }
    return WorkerJobs(queues, backend.logs)


def redis_client(settings: Settings, timeout_seconds: float | None = None) -> redis.Redis:
    """Each connect and read ends after `timeout_seconds` when given, else the config's."""
    timeout = timeout_seconds or settings.redis.timeout_seconds
    return redis.Redis.from_url(
        str(settings.redis.url), socket_timeout=timeout, socket_connect_timeout=timeout
    )


def state_store(settings: Settings) -> StateStore:
    """Where the daemon's state is kept: in Redis on a Swarm, where every manager's daemon,
    `scale` and `status` must see the same (the configured state file, if any, taken over on
    the first use); else in the state file on this host."""
    if settings.compose.backend == "swarm":
        client = redis_client(settings)
        return RedisState(client, settings.compose.project_name, settings.daemon.state_file)
    return StateFile(settings.daemon.state_file)


def lease_ttl_seconds(settings: Settings) -> float:
    """How long the lease stays ours unrenewed. On Compose, longer than the longest action (a
    scale-out waits for readiness, a scale-in drains): the ticks renew it meanwhile, but should
    they stop with an action under way, a standby still never acts on top of it. On a Swarm,
    short (`SWARM_LEASE_SECONDS`, or 3 intervals if longer), so that a standby on another manager
    takes over soon after the leader died; there, an action under way on a service holds the
    service's lock in Redis, which a new leader's action on it waits for."""
    interval = settings.daemon.interval_seconds
    if settings.compose.backend == "swarm":
        return max(SWARM_LEASE_SECONDS, 3 * interval)
    return (
        3 * interval + settings.compose.ready_timeout_seconds + settings.nginx.drain_timeout_seconds
    )


def connections(settings: Settings) -> Connections:
    import requests

    client = redis_client(settings)
    http = requests.Session()
    http.trust_env = False  # nginx's own status page: no proxy, no .netrc, no env read a tick
    return Connections(
        redis=client,
        key_prefix=settings.redis.key_prefix,
        http=http,
        stub_status_url=str(settings.nginx.stub_status_url),
        http_timeout_seconds=settings.nginx.timeout_seconds,
        worker_concurrency=worker_concurrency(settings.compose.env_path),
        redis_clients=ClientList(client),
    )


def worker_concurrency(env_file: Path) -> int | None:
    """WORKER_CONCURRENCY as the stack's env file sets it: the jobs one Flowise worker runs at
    once. None when the file or the key is missing, or the value is not a whole number above 0:
    nothing to size from, and never a reason not to start. The compose files are not resolved
    (that takes Docker), so a default there (the shipped one: 10) is not seen."""
    value = _env_values(env_file).get("WORKER_CONCURRENCY", "")
    if not (value.isascii() and value.isdigit()) or int(value) == 0:
        return None
    return int(value)


def _env_values(env_file: Path) -> dict[str, str]:
    """The file's KEY=VALUE pairs; none when it cannot be read (missing, unreadable, not text)."""
    try:
        return parse_env(env_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return {}


def sensors(settings: Settings, opened: Connections) -> Sensors:
    """One reader per source the configured signals read, opened from one set of clients."""
    readers: dict[str, Reader] = {}
    sources: dict[str, str] = {}
    for policy in settings.services.values():
        for signal in policy.signals:
            if signal.source_key not in readers:
                readers[signal.source_key] = signal.open_reader(opened)
            sources[signal.name] = signal.source_key
    return Sensors(readers, sources)


def replica_watch(settings: Settings, pool: WarmPool | None = None) -> ReplicaWatch:
    """The project's replicas, listed again when `docker events` reports a change to one of its
    containers (not started: `start()` follows the events in a thread)."""
    docker = docker_client(settings)
    project = f"com.docker.compose.project={settings.compose.project_name}"

    def events(since: datetime, until: datetime) -> Iterator[str]:
        filters = {"type": "container", "label": project}
        for event in docker.system.events(since=since, until=until, filters=filters):
            yield event.action or ""

    backend = replica_backend(settings, docker, pool)
    # a Swarm engine reports only its own node's containers: there, list on every tick
    full = 0 if settings.compose.backend == "swarm" else settings.daemon.full_reconcile_seconds
    return ReplicaWatch(backend.replicas, events, full, time.monotonic)


def autoscaler(
    settings: Settings,
    dry_run: bool,
    stop: StopSignal | None = None,
    replicas: ReplicaSource | None = None,
    actions: Actions | None = None,
    docker_timeout_seconds: float | None = None,
    pool: WarmPool | None = None,
) -> Autoscaler:
    """Everything one tick needs, built from the config. `replicas`: where the tick sees the
    replicas (the daemon's ReplicaWatch); by default they are listed at every tick, each docker
    command ended after `docker_timeout_seconds` when given. `actions`: the actions in progress
    (the daemon's, across config reloads); by default none yet."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    lease_ttl = lease_ttl_seconds(settings)
    opened = connections(settings)
    scaling = transaction(settings, stop, opened, docker_timeout_seconds)
    return Autoscaler(
        settings=settings,
        sensors=sensors(settings, opened),
        replicas=replicas or ListedEachTime(scaling.snapshot),
        transaction=scaling,
        lease=Lease(opened.redis, settings.compose.project_name, holder, lease_ttl),
        state_store=state_store(settings),
        wall_clock=time.time,
        monotonic=time.monotonic,
        dry_run=dry_run,
        main_watch=main_watch(settings, scaling, stop) if settings.deaf_mains.enabled else None,
        actions=actions or Actions(),
    )


def main_watch(
    settings: Settings, scaling: ScaleTransaction, stop: StopSignal | None = None
) -> MainWatch:
    """The watch for mains that stay healthy but answer nothing; it acts through `scaling`,
    and begins no restart once `stop` is requested."""
    backend = replica_backend(settings, docker_client(settings))
    stopping = stop or StopSignal()
    restart = MainRestart(backend, scaling, lambda: stopping.requested)
    return MainWatch(settings.deaf_mains, routing(settings), scaling.upstream, restart)


def warm_refill(
    settings: Settings, stop: StopSignal, pool: WarmPool, changed: Callable[[str], None]
) -> WarmRefill | None:
    """Refills the warm pools of the services that have one (`warm_replicas`); `changed(what)`
    is told each time a replica joins or leaves a pool. None where no service has one."""
    pooled = [service for service, policy in settings.services.items() if policy.warm_replicas]
    if not pooled:
        return None
    backend = compose_backend(settings, docker_client(settings), pool)
    opened = connections(settings)
    jobs = worker_jobs(settings, opened, backend)
    specs = {service: _pool_spec(settings, service, opened.redis, jobs) for service in pooled}
    ready_timeout = settings.compose.ready_timeout_seconds
    return WarmRefill(backend, pool, specs, ready_timeout, time.monotonic, stop.pause, changed)


def _pool_spec(settings: Settings, service: str, client: redis.Redis, jobs: WorkerJobs) -> PoolSpec:
    policy = settings.services[service]
    if service == settings.nginx.upstream_service:
        return PoolSpec(policy.warm_replicas, warmed=lambda r: r.health in (None, "healthy"))
    prefix = settings.redis.key_prefix
    waiting = [f"{prefix}:{s.queue}:wait" for s in policy.signals if isinstance(s, QueueSignal)]

    def connections(replica: Replica) -> list[dict[str, str]]:
        hosts = set(replica.addresses.values())
        return [c for c in client.client_list() if c["addr"].rsplit(":", 1)[0] in hosts]

    def registered(replica: Replica) -> bool:
        """Its BullMQ worker connection is in CLIENT LIST: it takes jobs from now on."""
        return any(c["name"].startswith(f"{prefix}:") for c in connections(replica))

    def busy() -> bool:
        return any(client.llen(key) for key in waiting)

    def unblock(replica: Replica) -> None:
        """A paused worker's blocking wait for jobs (BZPOPMIN on the queue's marker) would
        still take the next wake-up, and the running workers would see that job only at their
        own wait's end (up to 5 s later, seen on Flowise 3.1.4): end its waits as a timeout."""
        for blocked in connections(replica):
            if "b" in blocked["flags"]:
                client.client_unblock(int(blocked["id"]))

    def running_jobs(replica: Replica) -> int | None:
        return (jobs(service, [replica]) or {}).get(replica.id)

    return PoolSpec(policy.warm_replicas, warmed=registered, busy=busy, paused=unblock,
                    jobs=running_jobs)  # fmt: skip
