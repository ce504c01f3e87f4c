"""What is wrong with a Flowise stack, and how to fix it. Purely computational: every check
reads a `Setup` (the env file, the resolved compose config, the running containers) and
returns findings; `setup_reader.py` gathers the Setup.

Messages name variables, services and containers, never a secret's value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoscaler.runtime.state import DeafMainEvent
from autoscaler.stack.init import FLOWISE_SECRETS, TOKEN_NAMES

SHARED_SECRETS = (*FLOWISE_SECRETS, *TOKEN_NAMES)
SHARED_SETTINGS = (
    "MODE", "QUEUE_NAME", "REDIS_URL", "DATABASE_TYPE", "DATABASE_HOST", "DATABASE_PORT",
    "DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD", "STORAGE_TYPE",
    "S3_STORAGE_BUCKET_NAME", "S3_ENDPOINT_URL", *SHARED_SECRETS,
)  # fmt: skip
"""What every main and worker must agree on."""
INVENTED = {
    "FLOWISE_QUEUE_ENABLED": "queue mode is MODE=queue",
    "FLOWISE_QUEUE_CONCURRENCY": "the jobs a worker runs at once are WORKER_CONCURRENCY",
    "FLOWISE_CACHE_TYPE": "in queue mode Flowise moves its cache to Redis by itself",
}
"""Variables a widely copied scaling article sets that no Flowise version reads."""
STUB_STATUS_PORT = 8081
REDIS_PORT = 6379
DEFAULT_QUEUE_NAME = "flowise-queue"
"""Flowise's QUEUE_NAME when none is set; its queues are this name and a kind."""
QUEUE_KINDS = ("prediction", "upsertion", "schedule")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Published:
    """One port a service publishes (or a container has published) on the host."""

    target: int
    host_ip: str
    """The host address it listens on; empty or 0.0.0.0 mean every interface."""


@dataclass(frozen=True)
class RunningContainer:
    name: str
    service: str
    environment: Mapping[str, str]
    published: tuple[Published, ...] = ()


@dataclass(frozen=True)
class BucketProbe:
    """A signed HEAD of the uploads bucket, sent from inside a running main with that main's own
    S3 settings and keys: what Flowise itself would meet."""

    replica: str
    bucket: str
    endpoint: str
    http_status: int | None
    """None: no HTTP answer at all (`error` says why)."""
    error: str = ""


@dataclass(frozen=True)
class StackSeen:
    """What a backend shows of the stack: its services as the files resolve, what runs."""

    services: dict[str, Any]
    compose_error: str | None
    running: tuple[RunningContainer, ...]
    docker_error: str | None
    mains_within_reach: list[RunningContainer]
    """The running mains a command can be run in from here (`docker exec`)."""


@dataclass(frozen=True)
class Setup:
    env_file: Path
    env_values: Mapping[str, str] | None
    """The env file's values; None when there is no env file."""
    env_file_mode: int | None
    services: Mapping[str, Mapping[str, Any]]
    """`docker compose config --format json`'s services."""
    mains: str
    """The service nginx routes to: the Flowise mains."""
    workers: tuple[str, ...]
    """The other services the autoscaler scales: the Flowise workers."""
    max_replicas: Mapping[str, int]
    running: tuple[RunningContainer, ...] = ()
    compose_error: str | None = None
    """Why the compose files could not be resolved."""
    docker_error: str | None = None
    """Why the running containers could not be listed."""
    deaf_mains: tuple[DeafMainEvent, ...] = ()
    """The mains the daemon found deaf in the last day (its state file)."""
    bucket_probe: BucketProbe | None = None
    """None when not probed: no main running, or no S3 storage."""
    redis_error: str | None = None
    """Why Redis did not answer a PING from this host, while mains run; None when it did."""
    watched_queues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The BullMQ queues the autoscaler reads, by the service it scales on them."""

    def environment(self, service: str) -> Mapping[str, str | None]:
        return self.services.get(service, {}).get("environment") or {}

    def flowise_services(self) -> list[str]:
        return [s for s in (self.mains, *self.workers) if s in self.services]

    def running_in(self, service: str) -> list[RunningContainer]:
        return [c for c in self.running if c.service == service]

    def replicas_possible(self, service: str) -> int:
        """The most replicas of `service` there may be: what the autoscaler may scale it to,
        what compose asks for, and what runs now."""
        deploy = self.services.get(service, {}).get("deploy") or {}
        return max(
            self.max_replicas.get(service, 1),
            deploy.get("replicas") or 1,
            len(self.running_in(service)),
        )


@dataclass(frozen=True)
class Finding:
    check: str
    """The check's name: stable, for tests and scripts."""
    problem: str
    fix: str


Check = Callable[[Setup], Iterator[Finding]]


def diagnose(setup: Setup) -> list[Finding]:
    return [finding for check in CHECKS for finding in check(setup)]


def compose_resolves(setup: Setup) -> Iterator[Finding]:
    if setup.compose_error is not None:
        yield Finding(
            "compose_resolves",
            f"docker compose cannot resolve the compose files: {setup.compose_error}",
            f"correct the file it names, or set the variable in {setup.env_file} "
            "(`compose-flowise init` writes every one the shipped compose file needs)",
        )


def docker_answers(setup: Setup) -> Iterator[Finding]:
    if setup.docker_error is not None:
        yield Finding(
            "docker_answers",
            f"cannot list the running containers: {setup.docker_error}",
            "start the Docker engine, or run this as a user allowed to use it",
        )


def no_invented_variables(setup: Setup) -> Iterator[Finding]:
    for name, real in INVENTED.items():
        places = [s for s in setup.flowise_services() if name in setup.environment(s)]
        if setup.env_values and name in setup.env_values:
            places.append(str(setup.env_file))
        if places:
            yield Finding(
                "invented_variables",
                f"{name} is set ({', '.join(places)}) but Flowise has no such variable: "
                "nothing reads it, and nothing warns",
                f"remove it; {real}",
            )


def queue_mode(setup: Setup) -> Iterator[Finding]:
    several = setup.replicas_possible(setup.mains) > 1 or _has_workers(setup)
    if not several:
        return
    for service in setup.flowise_services():
        mode = setup.environment(service).get("MODE")
        if mode != "queue":
            shown = f"MODE={mode}" if mode else "MODE is unset (main)"
            yield Finding(
                "queue_mode",
                f"{shown} on {service}, with more than one Flowise replica: each runs "
                "predictions itself, keeps rate limits and aborts in its own memory, and runs "
                "every scheduled flow once per replica",
                "set MODE=queue on every main and worker",
            )


def shared_database(setup: Setup) -> Iterator[Finding]:
    if _flowise_replicas(setup) <= 1:
        return
    for service in setup.flowise_services():
        database = setup.environment(service).get("DATABASE_TYPE") or "sqlite"
        if database == "sqlite":
            yield Finding(
                "shared_database",
                f"{service} uses SQLite (DATABASE_TYPE unset or sqlite), with more than one "
                "Flowise replica: each replica writes its own database file",
                "use Postgres: DATABASE_TYPE=postgres and DATABASE_HOST, DATABASE_PORT, "
                "DATABASE_NAME, DATABASE_USER, DATABASE_PASSWORD, the same on every replica",
            )


def shared_storage(setup: Setup) -> Iterator[Finding]:
    if _flowise_replicas(setup) <= 1:
        return
    for service in setup.flowise_services():
        storage = setup.environment(service).get("STORAGE_TYPE") or "local"
        if storage == "local":
            yield Finding(
                "shared_storage",
                f"{service} keeps uploads on local disk (STORAGE_TYPE unset or local), with "
                "more than one Flowise replica: a file uploaded through one replica is "
                "missing on the others",
                "use shared storage: STORAGE_TYPE=s3 with the S3_* variables (the shipped "
                "compose file runs MinIO), or gcs or azure",
            )


def redis_answers(setup: Setup) -> Iterator[Finding]:
    if setup.redis_error is not None:
        yield Finding(
            "redis_answers",
            f"Redis does not answer ({setup.redis_error}) while mains run: Redis is the "
            "problem. It holds the queues: predictions cannot be queued, and a job lost with "
            "it is never answered (Flowise issue #5126): its client gets nginx's 504 at the "
            "prediction timeout (nginx.conf); the autoscaler holds the workers' count meanwhile",
            "start it (`compose-flowise up`), or read why it stopped: docker compose logs "
            "redis. A Flowise 3.1.4 main may lose a Redis client for good on a Redis "
            "restart and answer no prediction again: the daemon restarts such a main "
            "(deaf_mains); without it, restart the mains by hand",
        )


def bucket_reachable(setup: Setup) -> Iterator[Finding]:
    probe = setup.bucket_probe
    if probe is None or probe.http_status == 200:
        return
    where = f"bucket {probe.bucket} at {probe.endpoint} (tried from {probe.replica})"
    if probe.http_status is None:
        problem = f"cannot reach the uploads {where}: {probe.error}"
        fix = (
            "with the shipped MinIO, set COMPOSE_PROFILES=minio in the env file and run "
            "`compose-flowise up`; with another S3, set S3_ENDPOINT_URL to its address"
        )
    elif probe.http_status == 404:
        problem = f"the uploads {where} does not exist: every upload fails"
        fix = (
            "with the shipped MinIO, `compose-flowise up` creates it (the minio-bucket "
            "service); elsewhere create it with the provider's tools (doctor creates nothing)"
        )
    elif probe.http_status in (401, 403):
        problem = f"the uploads {where} refuses the stack's keys (HTTP {probe.http_status})"
        fix = (
            "set S3_STORAGE_ACCESS_KEY_ID and S3_STORAGE_SECRET_ACCESS_KEY in the env file to "
            "a key allowed to read and write the bucket (with MinIO: its root user), then "
            "`compose-flowise up`"
        )
    else:
        problem = f"the uploads {where} answers HTTP {probe.http_status}"
        fix = "check the S3 server's log, and S3_STORAGE_REGION and S3_FORCE_PATH_STYLE"
    yield Finding("bucket_reachable", problem, fix)


def secrets_set(setup: Setup) -> Iterator[Finding]:
    for service in setup.flowise_services():
        environment = setup.environment(service)
        missing = [name for name in SHARED_SECRETS if not environment.get(name)]
        if missing:
            yield Finding(
                "secrets_set",
                f"{', '.join(missing)} unset on {service}: Flowise makes up its own in each "
                "replica, so logins, tokens and stored credentials break across replicas",
                "set each once in the env file and give the same value to every main and "
                "worker (`compose-flowise init` generates them)",
            )


def settings_agree(setup: Setup) -> Iterator[Finding]:
    """Mains and workers, as configured and as running, agree on what they must share."""
    holders = {s: setup.environment(s) for s in setup.flowise_services()}
    holders |= {
        f"running {c.name}": c.environment
        for s in setup.flowise_services()
        for c in setup.running_in(s)
    }
    differing = [name for name in SHARED_SETTINGS if _disagree(holders, name)]
    if differing:
        yield Finding(
            "settings_agree",
            f"{', '.join(differing)} differ between {', '.join(holders)}: every main and "
            "worker must have the same value",
            "define them once (a YAML anchor or x- extension used by every Flowise service), "
            "then `compose-flowise up` recreates the replicas whose settings changed",
        )


def workers_present(setup: Setup) -> Iterator[Finding]:
    if setup.environment(setup.mains).get("MODE") != "queue":
        return
    if not _has_workers(setup):
        names = ", ".join(setup.workers) or "none"
        yield Finding(
            "workers_present",
            f"queue mode without workers (scaled worker services: {names}): mains only "
            "enqueue, so every prediction waits forever",
            "add a worker service (`flowise worker`, or the flowiseai/flowise-worker image) "
            "with the mains' environment, and scale it in the config's [services]",
        )
    elif setup.running_in(setup.mains) and not any(setup.running_in(w) for w in setup.workers):
        yield Finding(
            "workers_present",
            "mains are running but no worker is: every prediction waits until one starts",
            "`compose-flowise up` starts the workers at their min_replicas",
        )


def finished_jobs_removed(setup: Setup) -> Iterator[Finding]:
    for service in setup.flowise_services():
        environment = setup.environment(service)
        unset = [n for n in ("REMOVE_ON_AGE", "REMOVE_ON_COUNT") if not environment.get(n)]
        if unset:
            yield Finding(
                "finished_jobs_removed",
                f"{', '.join(unset)} unset on {service}: finished jobs stay in Redis forever, "
                "until it runs out of memory",
                "set REMOVE_ON_AGE (seconds, e.g. 86400) and REMOVE_ON_COUNT (e.g. 10000)",
            )


def worker_concurrency(setup: Setup) -> Iterator[Finding]:
    for service in setup.workers:
        if service in setup.services and not setup.environment(service).get("WORKER_CONCURRENCY"):
            yield Finding(
                "worker_concurrency",
                f"WORKER_CONCURRENCY unset on {service}: one worker takes the whole queue "
                "(Flowise's default is 100000 or more), so more workers never share the load",
                "set WORKER_CONCURRENCY to the jobs one worker can run at once, e.g. 10",
            )


def queues_named(setup: Setup) -> Iterator[Finding]:
    """A queue the autoscaler reads that Flowise never fills reads empty for good: the service
    would sit at its min_replicas however long the real queue grows."""
    for service, queues in setup.watched_queues.items():
        if service not in setup.services:
            continue
        queue_name = setup.environment(service).get("QUEUE_NAME") or DEFAULT_QUEUE_NAME
        flowise_queues = {f"{queue_name}-{kind}" for kind in QUEUE_KINDS}
        for queue in sorted(set(queues) - flowise_queues):
            yield Finding(
                "queues_named",
                f"the autoscaler reads the queue {queue} for {service}, but its Flowise "
                f"(QUEUE_NAME={queue_name}) fills {queue_name}-prediction and "
                f"{queue_name}-upsertion: that queue stays empty and {service} never scales out",
                f"name the signal's queue {queue_name}-prediction (or -upsertion) in the "
                "config's [services], or QUEUE_NAME in the .env",
            )


def ports_on_loopback(setup: Setup) -> Iterator[Finding]:
    for what, target in (("nginx's stub_status", STUB_STATUS_PORT), ("Redis", REDIS_PORT)):
        exposed = sorted(set(_published_beyond_loopback(setup, target)))
        if exposed:
            yield Finding(
                "ports_on_loopback",
                f"{what} (port {target}) is published beyond 127.0.0.1 by {', '.join(exposed)}: "
                "anyone who reaches this host can read it",
                f'publish it as "127.0.0.1:HOST_PORT:{target}"',
            )


def env_file_private(setup: Setup) -> Iterator[Finding]:
    if setup.env_file_mode is not None and setup.env_file_mode & 0o077:
        yield Finding(
            "env_file_private",
            f"{setup.env_file} holds the stack's secrets and is readable by others "
            f"(mode {setup.env_file_mode & 0o777:o})",
            f"chmod 600 {setup.env_file}",
        )


def mains_answer(setup: Setup) -> Iterator[Finding]:
    for event in setup.deaf_mains:
        at = datetime.fromtimestamp(event.at, UTC).isoformat(timespec="seconds")
        if event.action == "restarted":
            fix = (
                "nothing while it answers again: the daemon restarted it. If it recurs, read "
                f"its log around {at} (docker logs {event.replica}) and check that it reaches "
                "Redis: a main learns there that its jobs are done"
            )
        else:
            fix = f"restart it: docker restart {event.replica}"
        yield Finding("mains_answer", f"at {at}: {event.reason}; {event.action}", fix)


CHECKS: tuple[Check, ...] = (
    compose_resolves,
    docker_answers,
    no_invented_variables,
    queue_mode,
    shared_database,
    shared_storage,
    redis_answers,
    bucket_reachable,
    secrets_set,
    settings_agree,
    workers_present,
    finished_jobs_removed,
    worker_concurrency,
    queues_named,
    ports_on_loopback,
    env_file_private,
    mains_answer,
)


def _has_workers(setup: Setup) -> bool:
    return any(w in setup.services and setup.max_replicas.get(w, 1) > 0 for w in setup.workers)


def _flowise_replicas(setup: Setup) -> int:
    return sum(setup.replicas_possible(s) for s in setup.flowise_services())


def _disagree(holders: Mapping[str, Mapping[str, str | None]], name: str) -> bool:
    values = {environment[name] for environment in holders.values() if environment.get(name)}
    return len(values) > 1


def _published_beyond_loopback(setup: Setup, target: int) -> Iterator[str]:
    for service, definition in setup.services.items():
        for port in definition.get("ports") or []:
            if port.get("target") == target and port.get("host_ip", "") not in _LOOPBACK:
                yield service
    for container in setup.running:
        if any(p.target == target and p.host_ip not in _LOOPBACK for p in container.published):
            yield f"running {container.name}"
