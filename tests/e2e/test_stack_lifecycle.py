"""The product's stack on a real engine: `init` + `up` to healthy, predictions through nginx,
`doctor` on the running stack, and a main crashing under load. One stack for the module: no
test here changes what the next one sees (the crashed main is back and routed when its test
ends)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flowise_stack import FlowiseStack, Predictions, predict, running_flowise_stack
from harness import HarnessError, upstream_servers

from autoscaler.runtime import wiring

pytestmark = pytest.mark.e2e

CRASH_SECONDS = 1.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowiseStack]:
    try:
        with running_flowise_stack(tmp_path_factory.mktemp("stack")) as running:
            yield running
    except HarnessError as error:
        pytest.fail(str(error))


def routed_servers(stack: FlowiseStack) -> set[str]:
    return upstream_servers(stack.settings.nginx.upstream_file)


def routable_mains(stack: FlowiseStack) -> set[str]:
    snapshot = wiring.transaction(stack.settings).snapshot()
    networks = snapshot["nginx"][0].addresses
    return {f"{r.address_on(networks)}:3000" for r in snapshot["flowise"] if r.routable}


def test_up_brings_every_service_to_healthy_and_routes_the_min_mains(stack) -> None:
    assert f"Flowise is up at {stack.http_url}" in stack.up_output
    containers = wiring.docker_client(stack.settings).compose.ps()
    for container in containers:  # up said each one became healthy, as it did
        assert re.search(rf"^  {container.name}: healthy \(\d+s\)$", stack.up_output, re.M)
    by_service: dict[str, int] = {}
    for container in containers:
        assert container.state.running, container.name
        assert container.state.health is None or container.state.health.status == "healthy"
        service = container.config.labels["com.docker.compose.service"]
        by_service[service] = by_service.get(service, 0) + 1
    assert by_service == {
        "flowise": 2,
        "flowise-worker": 1,
        "nginx": 1,
        "postgres": 1,
        "redis": 1,
        "minio": 1,
    }
    assert routed_servers(stack) == routable_mains(stack)
    assert len(routed_servers(stack)) == 2


def test_up_starts_one_main_alone_before_the_other_flowise_replicas(stack) -> None:
    """Compose creates every container of an `up` before it starts any: the other replicas
    created after the first main started were created by a second `up`."""
    flowise = [
        c
        for c in wiring.docker_client(stack.settings).compose.ps()
        if c.config.labels["com.docker.compose.service"] in ("flowise", "flowise-worker")
    ]
    first = min(flowise, key=lambda c: c.state.started_at)
    assert first.config.labels["com.docker.compose.service"] == "flowise"
    assert all(c.created > first.state.started_at for c in flowise if c is not first)
    assert "starting one flowise alone first" in stack.up_output


def test_predictions_through_nginx_run_on_the_workers(stack) -> None:
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: predict(stack.http_url, "300"), range(12)))
    assert [a.status_code for a in answers] == [200] * 12
    bodies = [a.json() for a in answers]
    assert {b["text"] for b in bodies} == {"slept 300 ms"}
    assert all(b["worker"] for b in bodies), "a worker ran each job"
    assert len({b["main"] for b in bodies}) == 2, "nginx spreads the requests over both mains"


def test_doctor_finds_nothing_wrong_with_the_running_stack(stack) -> None:
    result = stack.cli("doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no problem found" in result.stdout


def test_a_main_crashing_under_load_fails_only_the_requests_it_had_and_the_upstream_heals(
    stack,
) -> None:
    scaler = wiring.transaction(stack.settings)
    docker = wiring.docker_client(stack.settings)
    victim = docker.compose.ps(services=["flowise"])[0]
    with Predictions(stack.http_url, "400", clients=8) as load:
        time.sleep(2)
        crashing_at = time.monotonic()
        docker.container.execute(victim, ["pkill", "-KILL", "-P", "1"])  # Flowise dies: init exits
        # The process is gone within this: a request that reached it before may fail.
        crashed_by = time.monotonic() + CRASH_SECONDS
        time.sleep(4)
    after_crash = [o for o in load.outcomes if o.started > crashed_by]
    assert after_crash and all(o.status == 200 for o in after_crash), [
        (round(o.started - crashed_by, 2), o.status) for o in after_crash if o.status != 200
    ]
    before_crash = [o for o in load.outcomes if o.ended < crashing_at]
    assert before_crash and all(o.status == 200 for o in before_crash)

    # Restarted, maybe with a new address: reconciling like the daemon's ticks routes to it again.
    deadline = time.monotonic() + 60
    while routed_servers(stack) != routable_mains(stack) or len(routable_mains(stack)) < 2:
        assert time.monotonic() < deadline, "the upstream did not heal within 60 s"
        scaler.reconcile(scaler.snapshot())
        time.sleep(0.5)
    assert docker.container.inspect(victim.id).restart_count == 1
    answers = [predict(stack.http_url, "0") for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
