"""`upgrade` on REAL Flowise 3.1.4 under load: two tags of the same build (the image of
.ci/build-flowise-image and a second tag of it), 2 mains and a worker replaced one at a time
while clients send predictions through nginx, and a 40 s prediction runs on the old worker as
its replacement starts. Zero failed requests, and that job runs once, to its end.

Select with `-m real_flowise`; run it alone under `flock /tmp/docker-heavy.lock` on a shared host
(about 3 GB: up to 4 Flowise processes at once)."""

from __future__ import annotations

import secrets
import subprocess
import threading
from collections.abc import Iterator

import pytest
from flowise_stack import Upgrade
from harness import HarnessError
from real_flowise_stack import (
    QUEUE,
    PredictionLoad,
    RealFlowise,
    flowise_image,
    running_real_flowise,
)

from autoscaler.envfile import parse_env
from autoscaler.runtime import wiring

pytestmark = [pytest.mark.e2e, pytest.mark.real_flowise]

LONG_JOB = "40000"
"""The question of the job that must not be cut: it sleeps 40 s on a worker, beyond the 30 s a
Flowise worker gives its jobs once stopped, and longer than a new worker takes to start."""


@pytest.fixture
def flowise(tmp_path) -> Iterator[RealFlowise]:
    try:
        with running_real_flowise(tmp_path / "stack") as running:
            yield running
    except HarnessError as error:
        pytest.fail(str(error))


@pytest.fixture
def second_tag() -> Iterator[str]:
    tag = f"cf-upgrade-flowise:{secrets.token_hex(4)}"
    subprocess.run(["docker", "tag", flowise_image(), tag], check=True)
    try:
        yield tag
    finally:
        subprocess.run(["docker", "rmi", tag], check=False, capture_output=True)


def test_a_rolling_upgrade_of_real_flowise_under_load(flowise, second_tag) -> None:
    long_job: list = []

    def send_long_job() -> None:
        long_job.append(flowise.predict(LONG_JOB, timeout=240))

    with PredictionLoad(flowise, "500", clients=2, max_seconds=600) as load:
        with Upgrade(flowise.stack, second_tag) as upgrade:
            # the mains are new, the old worker is the only one: it takes the job
            upgrade.wait_for(r"^flowise: .* is fit", count=2, timeout=400)
            job = threading.Thread(target=send_long_job)
            job.start()
            result = upgrade.result()
        job.join(timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.outcomes and not load.failures, [(o.status, o.text[:100]) for o in load.failures]
    assert long_job and long_job[0].status_code == 200, result.stdout
    assert ran_once(flowise, LONG_JOB), result.stdout
    snapshot = wiring.transaction(flowise.stack.settings).snapshot()
    for service, count in (("flowise", 2), ("flowise-worker", 1)):
        running = [r for r in snapshot[service] if r.state == "running"]
        assert [r.image for r in running] == [second_tag] * count, service
    env = parse_env((flowise.stack.folder / ".env").read_text())
    assert env["FLOWISE_IMAGE"] == second_tag
    answer = flowise.predict("100")
    assert answer.status_code == 200, answer.text


def ran_once(flowise: RealFlowise, question: str) -> bool:
    """The job with this question completed on its first start: never stalled, never retried
    (BullMQ's attemptsStarted and stalledCounter in the job's hash)."""
    client = flowise.redis()
    for key in client.scan_iter(f"bull:{QUEUE}:*"):
        if client.type(key) != b"hash" or not client.hexists(key, "data"):
            continue
        job = {k.decode(): v.decode() for k, v in client.hgetall(key).items()}
        if f'"question":"{question}"' in job["data"]:
            return (
                job.get("finishedOn") is not None
                and job.get("ats", "1") == "1"
                and (job.get("stc", "0") == "0")
            )
    raise AssertionError(f"no job asked {question!r} in bull:{QUEUE}")
