"""`upgrade` on the product's stack with stand-in images: two tags of the stand-in (the same
build), and a "bad" one whose Flowise never answers. Clients send predictions through nginx
throughout, the daemon runs meanwhile, and a long job runs on the old worker as it starts."""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from flowise_stack import FlowiseStack, Predictions, Upgrade, predict, running_flowise_stack
from harness import Daemon, HarnessError, local_images

from autoscaler.envfile import parse_env
from autoscaler.runtime import wiring
from autoscaler.runtime.state import StateFile

pytestmark = pytest.mark.e2e

FLOWISE = ("flowise", "flowise-worker")
LONG_JOB_MS = 20000
READY_TIMEOUT = 30
HELD_AT_THE_STACKS_COUNTS = {
    "flowise": {"min_replicas": 2, "max_replicas": 2},
    "flowise-worker": {"min_replicas": 1, "max_replicas": 1},
}
"""The daemon's bounds: a third main or a second worker, as each replacement has for a while,
is one too many, and a daemon not held would scale it in."""
NEVER_ANSWERS = "#!/bin/sh\n# a Flowise that starts and never answers\nexec sleep infinity\n"
WORKER_NEVER_STARTS = """#!/bin/sh
# mains as the stand-in's, workers that never take a job
case "$1" in
    start) exec python3 /app/standin.py ;;
    *) exec sleep infinity ;;
esac
"""


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The stand-in under a new tag (`good`), and two images built on it: one whose Flowise
    never answers (`bad`), one whose workers never take a job (`bad-worker`)."""
    standin = local_images()["CF_IMAGE_STANDIN"]
    tag = secrets.token_hex(4)
    made = {"good": f"cf-upgrade-standin:good-{tag}", "bad": f"cf-upgrade-standin:bad-{tag}",
            "bad-worker": f"cf-upgrade-standin:bad-worker-{tag}"}  # fmt: skip
    try:
        subprocess.run(["docker", "tag", standin, made["good"]], check=True)
        for name, script in (("bad", NEVER_ANSWERS), ("bad-worker", WORKER_NEVER_STARTS)):
            context = tmp_path_factory.mktemp(name)
            (context / "flowise").write_text(script)
            (context / "flowise").chmod(0o755)
            dockerfile = f"FROM {standin}\nCOPY flowise /usr/local/bin/flowise\n"
            (context / "Dockerfile").write_text(dockerfile)
            subprocess.run(["docker", "build", "-q", "-t", made[name], str(context)], check=True,
                           capture_output=True)  # fmt: skip
        yield {"old": standin, **made}
    finally:
        subprocess.run(["docker", "rmi", *made.values()], check=False, capture_output=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowiseStack]:
    """One stack for the module, its tests in order: the dry run and the rolled back upgrades
    leave it as they found it, the upgrade comes last."""
    try:
        with running_flowise_stack(tmp_path_factory.mktemp("stack")) as running:
            settings = tomllib.loads(running.config_file.read_text())
            settings.setdefault("compose", {})["ready_timeout_seconds"] = READY_TIMEOUT
            running.config_file.write_text(tomli_w.dumps(settings))
            yield running
    except HarnessError as error:
        pytest.fail(str(error))


def replicas(stack: FlowiseStack) -> dict[str, list[str]]:
    """Each Flowise service's running replicas, as `name image`."""
    snapshot = wiring.transaction(stack.settings).snapshot()
    return {
        service: sorted(
            f"{r.name} {r.image}" for r in snapshot.get(service, []) if r.state == "running"
        )
        for service in FLOWISE
    }


def images_of(stack: FlowiseStack) -> dict[str, set[str]]:
    return {
        service: {line.split()[1] for line in names} for service, names in replicas(stack).items()
    }


def env_image(stack: FlowiseStack) -> str:
    return parse_env((stack.folder / ".env").read_text())["FLOWISE_IMAGE"]


def test_dry_run_prints_the_plan_and_changes_nothing(stack, images) -> None:
    before = replicas(stack)
    result = stack.cli("upgrade", "--image", images["good"], "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith(f"flowise: start one replica of {images['good']} alone")
    assert sum("flowise-worker: start one replica" in line for line in lines) == 1
    assert sum(line.startswith("flowise: take ") for line in lines) == 2
    assert replicas(stack) == before
    assert env_image(stack) == images["old"]
    assert StateFile(stack.settings.daemon.state_file).read().hold is None


def test_a_new_image_that_never_becomes_healthy_is_rolled_back(stack, images) -> None:
    before = images_of(stack)
    with Predictions(stack.http_url, "300", clients=4) as load:
        result = stack.cli("upgrade", "--image", images["bad"])
    assert result.returncode == 1
    assert f"error: upgrade to {images['bad']} failed: " in result.stderr
    assert f"not healthy within {READY_TIMEOUT}s" in result.stderr
    assert f"rolled back: every replica runs {images['old']}, as .env names" in result.stderr
    assert "Traceback" not in result.stderr
    assert load.results and not load.failures, load.failures[:5]
    assert images_of(stack) == before
    assert [len(names) for names in replicas(stack).values()] == [2, 1]
    assert env_image(stack) == images["old"]
    hold = StateFile(stack.settings.daemon.state_file).read().hold
    assert hold is not None and not hold.active(time.time()), "the hold ended"


def test_a_worker_that_never_takes_jobs_rolls_the_new_mains_back(stack, images) -> None:
    with Predictions(stack.http_url, "300", clients=4) as load:
        result = stack.cli("upgrade", "--image", images["bad-worker"])
    assert result.returncode == 1, result.stdout
    assert f"took no job within {READY_TIMEOUT}s" in result.stderr
    assert f"rolled back: every replica runs {images['old']}, as .env names" in result.stderr
    assert sum(" is fit" in line for line in result.stdout.splitlines()) == 4, (
        "both mains were new, then both old again"
    )
    assert load.results and not load.failures, load.failures[:5]
    assert images_of(stack) == {"flowise": {images["old"]}, "flowise-worker": {images["old"]}}
    assert [len(names) for names in replicas(stack).values()] == [2, 1]
    assert env_image(stack) == images["old"]


def test_a_rolling_upgrade_under_load_fails_no_request_and_cuts_no_job(
    stack, images, tmp_path
) -> None:
    docker = wiring.docker_client(stack.settings)
    old_worker = docker.compose.ps(services=["flowise-worker"])[0].config.hostname
    long_job: list = []

    def send_long_job() -> None:
        long_job.append(predict(stack.http_url, str(LONG_JOB_MS)))

    with (
        daemon_on(stack, tmp_path) as daemon,
        Predictions(stack.http_url, "300", clients=4) as load,
        ContainerEvents(stack) as events,
    ):
        before = len(daemon.lines)
        with Upgrade(stack, images["good"]) as upgrade:
            # once the mains are new, while the old worker is the only one: it takes the job
            upgrade.wait_for(r"^flowise: .* is fit", count=2)
            job = threading.Thread(target=send_long_job)
            job.start()
            result = upgrade.result()
        during = daemon.lines[before:]
        job.join(timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.results and not load.failures, load.failures[:5]
    assert long_job[0].status_code == 200
    assert long_job[0].json()["worker"] == old_worker, result.stdout
    assert images_of(stack) == {"flowise": {images["good"]}, "flowise-worker": {images["good"]}}
    assert [len(names) for names in replicas(stack).values()] == [2, 1]
    assert env_image(stack) == images["good"]
    assert not [line for line in during if "action-" in line], "the daemon held its counts"
    first_alone(sorted(events.events))


class ContainerEvents:
    """`docker events` of the project's containers, followed as they come (the engine keeps
    only its last few hundred events: on a busy host a later `--since` misses them)."""

    FORMAT = "|".join([
        "{{.TimeNano}}", "{{.Actor.ID}}", '{{index .Actor.Attributes "name"}}',
        '{{index .Actor.Attributes "execID"}}', '{{index .Actor.Attributes "exitCode"}}',
        "{{.Action}}",  # last: an exec's action holds its command, which may hold a "|"
    ])  # fmt: skip

    def __init__(self, stack: FlowiseStack) -> None:
        project = f"label=com.docker.compose.project={stack.settings.compose.project_name}"
        self.process = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", project,
             "--format", self.FORMAT],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.events: list[Event] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> ContainerEvents:
        return self

    def __exit__(self, *exc_info) -> None:
        self.process.kill()  # a client only: the docker CLI may linger on SIGTERM
        self.process.wait()
        self._reader.join(timeout=10)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            at, container, name, exec_id, exit_code, action = line.rstrip("\n").split("|", 5)
            self.events.append(Event(int(at), container, name, exec_id, exit_code, action))


@dataclass(frozen=True, order=True)
class Event:
    at: int
    container: str
    name: str
    exec_id: str
    exit_code: str
    action: str


def first_alone(events: list[Event]) -> None:
    """The first replica created was a main, fit before the next one was created (it ran the
    migrations alone). Fit: its healthcheck passed, as Docker reports it or as compose-flowise
    runs it itself (it routes a main on its own run of the healthcheck, before Docker's next)."""
    created = [event for event in events if event.action == "create"]
    assert len(created) >= 2, events[:10]
    first, second = created[:2]
    assert "-flowise-" in first.name and "worker" not in first.name, created
    passed = healthcheck_passes(events, first.container)
    assert passed and passed[0] < second.at, f"{second.name} created before {first.name} was fit"


def healthcheck_passes(events: list[Event], container: str) -> list[int]:
    """When the container's healthcheck (the ping) passed, by Docker's word or by an exec."""
    mine = [event for event in events if event.container == container]
    pings = {e.exec_id for e in mine if e.action.startswith("exec_start") and "/ping" in e.action}
    return [
        event.at
        for event in mine
        if event.action == "health_status: healthy"
        or (event.action == "exec_die" and event.exec_id in pings and event.exit_code == "0")
    ]


@contextmanager
def daemon_on(stack: FlowiseStack, folder: Path) -> Iterator[Daemon]:
    """The daemon on the stack's own config at the stack's counts, its metrics off, ticking;
    stopped at the end."""
    settings = tomllib.loads(stack.config_file.read_text())
    settings.setdefault("daemon", {})["metrics_port"] = 0
    settings["services"] = HELD_AT_THE_STACKS_COUNTS
    config = folder / "daemon.toml"
    config.write_text(tomli_w.dumps(settings))
    daemon = Daemon(config)
    try:
        daemon.ticks_from_now(2)
        yield daemon
    finally:
        assert daemon.stop() == 0, daemon.lines[-5:]
