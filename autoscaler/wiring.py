"""The one place that builds real clients from the config. Talks to nothing by itself."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable

import redis
import requests
from python_on_whales import DockerClient

from autoscaler.actuators.compose import ComposeBackend
from autoscaler.actuators.scaling import Routing, Scaler
from autoscaler.actuators.upstream import NginxUpstream
from autoscaler.config import Settings
from autoscaler.lease import Lease
from autoscaler.loop import Sources, Tick
from autoscaler.policy.parameters import QueueSignal
from autoscaler.sources.bullmq import BullMQQueue
from autoscaler.sources.stub_status import NginxStubStatus
from autoscaler.state import StateFile


def docker_client(settings: Settings) -> DockerClient:
    compose = settings.compose
    return DockerClient(
        compose_files=[compose.directory / file for file in compose.files],  # relative to it
        compose_project_name=compose.project_name,
        compose_project_directory=compose.directory,
        compose_env_files=[compose.env_file] if compose.env_file else [],
    )


def scaler(settings: Settings, sleep: Callable[[float], None] = time.sleep) -> Scaler:
    backend = ComposeBackend(docker_client(settings), settings.compose.project_name)
    nginx = settings.nginx
    routing = Routing(
        nginx_service=nginx.service,
        upstream_service=nginx.upstream_service,
        upstream_port=nginx.upstream_port,
        ready_timeout_seconds=settings.compose.ready_timeout_seconds,
        drain_timeout_seconds=nginx.drain_timeout_seconds,
    )
    return Scaler(backend, NginxUpstream(backend, nginx.upstream_file), routing, time.monotonic, sleep)


def redis_client(settings: Settings) -> redis.Redis:
    timeout = settings.redis.timeout_seconds
    return redis.Redis.from_url(
        str(settings.redis.url), socket_timeout=timeout, socket_connect_timeout=timeout
    )


def queue_source(settings: Settings, client: redis.Redis, queue: str) -> BullMQQueue:
    return BullMQQueue(client, queue, settings.redis.key_prefix)


def stub_status_source(settings: Settings) -> NginxStubStatus:
    nginx = settings.nginx
    return NginxStubStatus(requests.Session(), str(nginx.stub_status_url), nginx.timeout_seconds)


def sources(settings: Settings) -> Sources:
    client = redis_client(settings)
    queues = {
        signal.queue: queue_source(settings, client, signal.queue)
        for policy in settings.services.values()
        for signal in policy.signals
        if isinstance(signal, QueueSignal)
    }
    return Sources(queues, stub_status_source(settings))


def tick(settings: Settings, dry_run: bool) -> Tick:
    """Everything one tick needs, built from the config."""
    holder = f"{socket.gethostname()}:{os.getpid()}"
    # Longer than the longest tick (a scale-out waits for readiness, a scale-in drains), so
    # a standby never takes over from a daemon that is still acting.
    lease_ttl = (
        3 * settings.daemon.interval_seconds
        + settings.compose.ready_timeout_seconds
        + settings.nginx.drain_timeout_seconds
    )
    return Tick(
        settings=settings,
        sources=sources(settings),
        scaler=scaler(settings),
        lease=Lease(redis_client(settings), settings.compose.project_name, holder, lease_ttl),
        state_file=StateFile(settings.daemon.state_file),
        wall_clock=time.time,
        monotonic=time.monotonic,
        dry_run=dry_run,
    )
