"""doctor's checks, one named case per problem, over a resolved compose config. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autoscaler.runtime.state import DeafMainEvent
from autoscaler.stack.doctor import (
    BucketProbe,
    Published,
    RunningContainer,
    Setup,
    diagnose,
)
from autoscaler.stack.setup_reader import bucket_probe

ENVIRONMENT = {
    "MODE": "queue", "QUEUE_NAME": "flowise-queue", "WORKER_CONCURRENCY": "10",
    "REMOVE_ON_AGE": "86400", "REMOVE_ON_COUNT": "10000",
    "REDIS_URL": "redis://:r@redis:6379", "DATABASE_TYPE": "postgres", "DATABASE_HOST": "postgres",
    "DATABASE_PASSWORD": "p", "STORAGE_TYPE": "s3", "S3_STORAGE_BUCKET_NAME": "flowise",
    "FLOWISE_SECRETKEY_OVERWRITE": "k", "JWT_AUTH_TOKEN_SECRET": "a",
    "JWT_REFRESH_TOKEN_SECRET": "b", "JWT_ISSUER": "i", "JWT_AUDIENCE": "u",
    "EXPRESS_SESSION_SECRET": "e", "TOKEN_HASH_SECRET": "t",
}  # fmt: skip
SERVICES = {
    "flowise": {"environment": ENVIRONMENT},
    "flowise-worker": {"environment": ENVIRONMENT},
    "redis": {"ports": [{"target": 6379, "host_ip": "127.0.0.1", "published": "6379"}]},
    "nginx": {"ports": [{"target": 80, "host_ip": "0.0.0.0", "published": "80"},
                        {"target": 8081, "host_ip": "127.0.0.1", "published": "8081"}]},
    "postgres": {},
}  # fmt: skip


DEAF_MAIN = DeafMainEvent(
    at=1796097600.0, service="flowise", replica="p-flowise-2", action="restarted",
    reason="p-flowise-2 is deaf: 3 request(s) open longer than 120 s and none answered",
)  # fmt: skip


def healthy(**changes: Any) -> Setup:
    setup = Setup(
        env_file=Path("/etc/compose-flowise/.env"),
        env_values={"REDIS_PASSWORD": "r"},
        env_file_mode=0o100600,
        services=deepcopy(SERVICES),
        mains="flowise",
        workers=("flowise-worker",),
        max_replicas={"flowise": 6, "flowise-worker": 8},
        watched_queues={"flowise-worker": ("flowise-queue-prediction", "flowise-queue-upsertion")},
    )
    return replace(setup, **changes)


def with_environment(services: tuple[str, ...], **values: str | None) -> Setup:
    setup = healthy()
    for service in services:
        environment = {**ENVIRONMENT, **values}
        setup.services[service]["environment"] = {
            k: v for k, v in environment.items() if v is not None
        }
    return setup


BOTH = ("flowise", "flowise-worker")
WORKER = ("flowise-worker",)


def published(service: str, target: int, host_ip: str) -> Setup:
    setup = healthy()
    setup.services[service]["ports"] = [{"target": target, "host_ip": host_ip, "published": "1"}]
    return setup


def running(*containers: RunningContainer) -> Setup:
    return healthy(running=containers)


def bucket(status: int | None, error: str = "") -> BucketProbe:
    return BucketProbe("p-flowise-1", "flowise", "http://minio:9000", status, error)


def main_container(name: str, **values: str) -> RunningContainer:
    return RunningContainer(name, "flowise", {**ENVIRONMENT, **values})


CASES: dict[str, tuple[Callable[[], Setup], str, str]] = {
    "compose files that do not resolve": (
        lambda: healthy(services={}, compose_error="required variable X is missing a value"),
        "compose_resolves", "required variable X"),
    "no Docker engine": (
        lambda: healthy(docker_error="Cannot connect to the Docker daemon"),
        "docker_answers", "Cannot connect"),
    "FLOWISE_QUEUE_ENABLED in the env file": (
        lambda: healthy(env_values={"FLOWISE_QUEUE_ENABLED": "true"}),
        "invented_variables", "FLOWISE_QUEUE_ENABLED is set (/etc/compose-flowise/.env)"),
    "FLOWISE_CACHE_TYPE on the mains": (
        lambda: with_environment(("flowise",), FLOWISE_CACHE_TYPE="redis"),
        "invented_variables", "FLOWISE_CACHE_TYPE is set (flowise)"),
    "FLOWISE_QUEUE_CONCURRENCY everywhere": (
        lambda: with_environment(BOTH, FLOWISE_QUEUE_CONCURRENCY="5"),
        "invented_variables", "FLOWISE_QUEUE_CONCURRENCY is set (flowise, flowise-worker)"),
    "MODE unset with several mains and workers": (
        lambda: with_environment(BOTH, MODE=None),
        "queue_mode", "MODE is unset (main) on flowise"),
    "SQLite with several replicas": (
        lambda: with_environment(BOTH, DATABASE_TYPE=None),
        "shared_database", "flowise uses SQLite"),
    "local storage with several replicas": (
        lambda: with_environment(BOTH, STORAGE_TYPE="local"),
        "shared_storage", "keeps uploads on local disk"),
    "a secret missing on the workers": (
        lambda: with_environment(WORKER, TOKEN_HASH_SECRET=""),
        "secrets_set", "TOKEN_HASH_SECRET unset on flowise-worker"),
    "a secret different on the workers": (
        lambda: with_environment(WORKER, JWT_AUTH_TOKEN_SECRET="other"),
        "settings_agree", "JWT_AUTH_TOKEN_SECRET differ between flowise, flowise-worker"),
    "running replicas started with another key": (
        lambda: running(main_container("p-flowise-1"),
                        main_container("p-flowise-2", FLOWISE_SECRETKEY_OVERWRITE="old"),
                        RunningContainer("p-flowise-worker-1", "flowise-worker", ENVIRONMENT)),
        "settings_agree", "FLOWISE_SECRETKEY_OVERWRITE differ"),
    "no worker service scaled": (
        lambda: healthy(workers=()),
        "workers_present", "queue mode without workers (scaled worker services: none)"),
    "no worker in the compose files": (
        lambda: healthy(services={k: v for k, v in deepcopy(SERVICES).items()
                                  if k != "flowise-worker"}),
        "workers_present", "queue mode without workers"),
    "mains running without a worker": (
        lambda: running(main_container("p-flowise-1")),
        "workers_present", "no worker is"),
    "REMOVE_ON_AGE unset": (
        lambda: with_environment(("flowise",), REMOVE_ON_AGE=None),
        "finished_jobs_removed", "REMOVE_ON_AGE unset on flowise"),
    "WORKER_CONCURRENCY unset on the workers": (
        lambda: with_environment(WORKER, WORKER_CONCURRENCY=None),
        "worker_concurrency", "WORKER_CONCURRENCY unset on flowise-worker"),
    "a queue the autoscaler reads that Flowise never fills": (
        lambda: healthy(watched_queues={"flowise-worker": ("flowise-prediction",)}),
        "queues_named", "reads the queue flowise-prediction for flowise-worker"),
    "a QUEUE_NAME the autoscaler's queues do not follow": (
        lambda: replace(with_environment(BOTH, QUEUE_NAME="site-a"),
                        watched_queues={"flowise-worker": ("flowise-queue-prediction",)}),
        "queues_named", "(QUEUE_NAME=site-a) fills site-a-prediction"),
    "stub_status on every interface": (
        lambda: published("nginx", 8081, ""),
        "ports_on_loopback", "nginx's stub_status (port 8081) is published beyond 127.0.0.1 by nginx"),
    "Redis on 0.0.0.0": (
        lambda: published("redis", 6379, "0.0.0.0"),
        "ports_on_loopback", "Redis (port 6379) is published beyond 127.0.0.1 by redis"),
    "a running Redis published on every interface": (
        lambda: running(main_container("p-flowise-1"),
                        RunningContainer("p-flowise-worker-1", "flowise-worker", ENVIRONMENT),
                        RunningContainer("p-redis-1", "redis", {},
                                         (Published(6379, "0.0.0.0"),))),
        "ports_on_loopback", "by running p-redis-1"),
    "an env file others can read": (
        lambda: healthy(env_file_mode=0o100644),
        "env_file_private", "readable by others (mode 644)"),
    "a main the daemon found deaf and restarted": (
        lambda: healthy(deaf_mains=(DEAF_MAIN,)),
        "mains_answer", "at 2026-12-01T04:00:00+00:00: p-flowise-2 is deaf: 3 request(s)"),
    "Redis down while mains run": (
        lambda: healthy(redis_error="ConnectionError: Error 111 connecting to 127.0.0.1:6379"),
        "redis_answers", "Redis does not answer (ConnectionError: Error 111"),
    "an S3 endpoint no main can reach": (
        lambda: healthy(bucket_probe=bucket(None, "curl: (6) Could not resolve host: minio")),
        "bucket_reachable", "cannot reach the uploads bucket flowise at http://minio:9000 "
        "(tried from p-flowise-1): curl: (6) Could not resolve host: minio"),
    "no bucket": (
        lambda: healthy(bucket_probe=bucket(404)),
        "bucket_reachable", "bucket flowise at http://minio:9000 (tried from p-flowise-1) "
        "does not exist"),
    "keys the bucket refuses": (
        lambda: healthy(bucket_probe=bucket(403)),
        "bucket_reachable", "refuses the stack's keys (HTTP 403)"),
    "a deaf main the daemon could not restart": (
        lambda: healthy(deaf_mains=(replace(DEAF_MAIN, action="restart failed: docker"),)),
        "mains_answer", "; restart failed: docker"),
}  # fmt: skip


def test_a_healthy_setup_has_no_finding() -> None:
    assert diagnose(healthy()) == []


def test_queues_that_follow_the_stacks_own_queue_name_have_no_finding() -> None:
    setup = replace(with_environment(BOTH, QUEUE_NAME="site-a"),
                    watched_queues={"flowise-worker": ("site-a-prediction", "site-a-upsertion")})  # fmt: skip
    assert diagnose(setup) == []


def test_a_running_healthy_stack_has_no_finding() -> None:
    setup = running(
        main_container("p-flowise-1"),
        main_container("p-flowise-2"),
        RunningContainer("p-flowise-worker-1", "flowise-worker", ENVIRONMENT),
        RunningContainer("p-redis-1", "redis", {}, (Published(6379, "127.0.0.1"),)),
    )
    assert diagnose(setup) == []  # fmt: skip
    assert diagnose(replace(setup, bucket_probe=bucket(200))) == []


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_problem_is_found_and_explained(case) -> None:
    make, check, phrase = case
    findings = diagnose(make())
    assert {f.check for f in findings} == {check}, findings
    assert any(phrase in f.problem for f in findings), [f.problem for f in findings]
    assert all(f.fix for f in findings)


def test_one_main_and_no_worker_outside_queue_mode_is_fine() -> None:
    """Flowise as it ships: one replica, SQLite, local files. Nothing to scale, nothing wrong."""
    setup = with_environment(("flowise",), MODE=None, DATABASE_TYPE=None, STORAGE_TYPE=None)
    del setup.services["flowise-worker"]
    setup = replace(setup, max_replicas={"flowise": 1})
    assert diagnose(setup) == []


def test_findings_never_show_a_secret_s_value() -> None:
    setup = with_environment(
        WORKER, JWT_AUTH_TOKEN_SECRET="s3cr3t-value", REDIS_URL="redis://:pw@x"
    )
    text = " ".join(f"{f.problem} {f.fix}" for f in diagnose(setup))
    assert "JWT_AUTH_TOKEN_SECRET" in text
    assert "s3cr3t-value" not in text and "pw@" not in text


S3_MAIN = RunningContainer(
    "p-flowise-1", "flowise", {**ENVIRONMENT, "S3_ENDPOINT_URL": "http://minio:9000"}
)


@pytest.mark.parametrize(
    ("output", "status", "error"),
    [
        ("\n200", 200, ""),
        ("\n404\n", 404, ""),
        ("curl: (6) Could not resolve host: minio\n\n000", None, "Could not resolve host: minio"),
        ("", None, "no answer"),
    ],
)
def test_the_bucket_probe_reads_curl_s_output(output: str, status, error: str) -> None:
    probe = bucket_probe(S3_MAIN, output)
    assert (probe.replica, probe.bucket, probe.endpoint) == (
        "p-flowise-1", "flowise", "http://minio:9000"
    )  # fmt: skip
    assert probe.http_status == status
    assert error in probe.error


def test_the_bucket_probe_names_aws_itself_when_no_endpoint_is_set() -> None:
    main = RunningContainer(
        "p-flowise-1", "flowise", {**ENVIRONMENT, "S3_STORAGE_REGION": "eu-west-3"}
    )
    assert bucket_probe(main, "\n403").endpoint == "https://s3.eu-west-3.amazonaws.com"
