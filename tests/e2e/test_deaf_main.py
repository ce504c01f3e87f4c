"""A main that stays healthy but never answers (issue 14): under a steady load through nginx,
one of two mains is made deaf on purpose (the stand-in's POST /deafen: it keeps taking
predictions, their jobs complete on the workers, it never answers, /ping stays healthy). The
daemon's own tick finds it, takes it out of the upstream, restarts it; predictions complete on
both mains again, the metric counts it, `status` and `doctor` show it."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import pytest
from flowise_stack import FlowiseStack, Predictions, running_flowise_stack
from harness import HarnessError
from prometheus_client import generate_latest
from python_on_whales import Container, DockerClient

from autoscaler.config import DeafMainSettings, ServicePolicy, Settings
from autoscaler.runtime import wiring
from autoscaler.runtime.autoscaler import Autoscaler, TickReport
from autoscaler.runtime.telemetry import Metrics
from autoscaler.signals.nginx_in_flight import InFlightSignal

pytestmark = pytest.mark.e2e

MAINS = "flowise"
# Two mains, held there: only the watch may touch them in this test.
POLICY = ServicePolicy(
    min_replicas=2, max_replicas=2, signals=(InFlightSignal(target_per_replica=50),)
)
# The default waits two minutes (above the longest flows); a test cannot. The clients give up
# after 60 s, well after this.
WATCH = DeafMainSettings(after_seconds=10, min_stuck_requests=1)
TICKS = 60  # a tick each second: the watch needs 10 s of evidence, the restart a few more


def test_a_deaf_main_is_taken_out_restarted_and_counted(tmp_path: Path) -> None:
    try:
        with running_flowise_stack(tmp_path, WORKER_CONCURRENCY="20") as stack:
            check_a_deaf_main_is_found_and_restarted(stack)
    except HarnessError as error:
        pytest.fail(str(error))


def check_a_deaf_main_is_found_and_restarted(stack: FlowiseStack) -> None:
    settings = stack.settings.model_copy(update={"services": {MAINS: POLICY}, "deaf_mains": WATCH})
    autoscaler = wiring.autoscaler(settings, dry_run=False)
    metrics = Metrics("test")
    try:
        with Predictions(stack.http_url, "200", clients=6, max_seconds=240) as load:
            tick(autoscaler, metrics)
            both = answering_mains(load, since=time.monotonic(), seconds=5)
            assert len(both) == 2, f"both mains answer before: {both}"
            deaf, healthy = sorted(mains(stack), key=lambda c: c.name)
            deaf_started = started_at(stack, deaf)
            assert deafen(stack, deaf) == "deaf to predictions until restarted"

            events = []
            for _ in range(TICKS):
                report = tick(autoscaler, metrics)
                events += report.record.deaf_mains
                if events:
                    break
                time.sleep(1)
            assert [(e.replica, e.action) for e in events] == [(deaf.name, "restarted")], events
            assert "is deaf" in events[0].reason and healthy.name in events[0].reason
            assert started_at(stack, deaf) != deaf_started, "the same container, started again"
            assert not routed(settings, stack, deaf), "out of nginx's upstream"

            routed_again = wait_routed(autoscaler, metrics, settings, stack, deaf)
            assert routed_again, "the restarted main is routed to again once healthy"
            after = answering_mains(load, since=time.monotonic(), seconds=5)
            assert after == {deaf.config.hostname, healthy.config.hostname}, after
    finally:  # a restart still under way would outlive the stack's teardown
        autoscaler.finish_actions()

    scrape = generate_latest(metrics.registry).decode()
    assert 'compose_flowise_deaf_mains_total{outcome="restarted",service="flowise"} 1.0' in scrape
    status = stack.cli("status")
    assert f"deaf main: {deaf.name}" in status.stdout and "restarted" in status.stdout, status
    doctor = stack.cli("doctor")
    assert doctor.returncode == 1
    assert "mains_answer: at " in doctor.stdout and deaf.name in doctor.stdout, doctor.stdout


def tick(autoscaler: Autoscaler, metrics: Metrics) -> TickReport:
    report = autoscaler.tick()
    metrics.record(report, report.state, 0.0)
    return report


def answering_mains(load: Predictions, since: float, seconds: float) -> set[str]:
    """The mains that answered a prediction started after `since`, watched for `seconds`."""
    time.sleep(seconds)
    return {o.main for o in list(load.outcomes) if o.started >= since and o.status == 200}


def mains(stack: FlowiseStack) -> list[Container]:
    return [c for c in docker(stack).compose.ps(services=[MAINS]) if c.state.running]


def docker(stack: FlowiseStack) -> DockerClient:
    return wiring.docker_client(stack.settings)


def deafen(stack: FlowiseStack, container: Container) -> str:
    command = ["curl", "-fsS", "-X", "POST", "http://127.0.0.1:3000/deafen"]
    return str(docker(stack).container.execute(container.id, command))


def started_at(stack: FlowiseStack, container: Container) -> datetime | None:
    return docker(stack).container.inspect(container.id).state.started_at


def server(stack: FlowiseStack, container: Container) -> str:
    """The main as the upstream lists it: IP:PORT."""
    networks = docker(stack).container.inspect(container.id).network_settings.networks or {}
    [address] = [n.ip_address for n in networks.values() if n.ip_address]
    return f"{address}:3000"


def routed(settings: Settings, stack: FlowiseStack, container: Container) -> bool:
    return server(stack, container) in settings.nginx.upstream_file.read_text()


def wait_routed(
    autoscaler: Autoscaler, metrics: Metrics, settings: Settings, stack: FlowiseStack,
    container: Container,
) -> bool:  # fmt: skip
    for _ in range(TICKS):
        tick(autoscaler, metrics)
        if routed(settings, stack, container):
            return True
        time.sleep(1)
    return False
