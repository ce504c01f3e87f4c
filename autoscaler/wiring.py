"""The one place that builds real clients from the config. Talks to nothing by itself."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
import requests
from python_on_whales import DockerClient

from autoscaler.actuators.compose import ComposeBackend
from autoscaler.actuators.scaling import Routing, Scaler
from autoscaler.actuators.upstream import NginxUpstream
from autoscaler.config import Settings
from autoscaler.sources.bullmq import BullMQQueue
from autoscaler.sources.stub_status import NginxStubStatus


def docker_client(settings: Settings) -> DockerClient:
    compose = settings.compose
    return DockerClient(
        compose_files=list(compose.files),
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
