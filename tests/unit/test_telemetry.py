"""The daemon's metrics: missing reads as missing, each failure counted once, one unit per
gauge, and the listen address the config names. Its JSON tick lines: a time, and a level that
says whether the tick had errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from importlib.metadata import version
from pathlib import Path

import pytest
import requests

from autoscaler.config import ConfigError, LoadedConfig, Settings, load
from autoscaler.policy import Unavailable
from autoscaler.runtime import daemon as daemon_module
from autoscaler.runtime.autoscaler import TickReport
from autoscaler.runtime.observe import Observed
from autoscaler.runtime.state import ServiceRecord, State, TickRecord
from autoscaler.runtime.telemetry import Metrics, log_tick
from autoscaler.signals.bullmq_reads import QueueLoad
from autoscaler.signals.nginx_stub_status import HttpLoad

QUEUE = "bullmq_queue:flowise-queue-prediction"
NGINX = "nginx_in_flight"


def report(at: float, readings: dict, docker_up: bool = True) -> TickReport:
    """A tick of the worker service that saw `readings`, and the replicas when Docker is up."""
    record = TickRecord(at, "host:1", True, {"flowise-worker": ServiceRecord(2, 2, 3, "", False)})
    snapshot = {"flowise-worker": []} if docker_up else None
    observed = Observed(
        at, readings, snapshot, None if docker_up else "Cannot connect to the Docker daemon",
        frozenset({"redis", "nginx"}),
    )  # fmt: skip
    evaluations = {"flowise-worker": object()} if docker_up else {}
    return TickReport(record, observed, evaluations, frozenset(observed.failed_sources()))  # type: ignore[arg-type]


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


READ = {QUEUE: QueueLoad(5, 2, 1.5, 0.5, 4.0, 2), NGINX: HttpLoad(7, 12.5)}
REDIS_DOWN = {
    QUEUE: Unavailable("redis at 127.0.0.1:6379: ConnectionError", "redis"),
    NGINX: HttpLoad(7, 12.5),
}


def test_each_figure_has_its_own_gauge_named_with_its_unit() -> None:
    metrics = Metrics("1.2.3")
    metrics.record(report(100.0, READ), State(), 0.01)
    assert sample(metrics, "compose_flowise_queue_backlog_jobs", signal=QUEUE) == 5
    assert sample(metrics, "compose_flowise_queue_active_jobs", signal=QUEUE) == 2
    assert sample(metrics, "compose_flowise_queue_arrivals_per_second", signal=QUEUE) == 1.5
    assert sample(metrics, "compose_flowise_queue_completions_per_second", signal=QUEUE) == 0.5
    assert sample(metrics, "compose_flowise_queue_job_run_seconds", signal=QUEUE) == 4.0
    assert sample(metrics, "compose_flowise_queue_workers", signal=QUEUE) == 2
    assert sample(metrics, "compose_flowise_nginx_in_flight_requests", signal=NGINX) == 7
    assert sample(metrics, "compose_flowise_nginx_requests_per_second", signal=NGINX) == 12.5
    assert sample(metrics, "compose_flowise_build_info", version="1.2.3") == 1
    assert sample(metrics, "compose_flowise_last_successful_tick_timestamp_seconds") == 100.0
    for source in ("redis", "nginx", "docker"):
        assert sample(metrics, "compose_flowise_source_up", source=source) == 1
        assert sample(metrics, "compose_flowise_errors_total", source=source) == 0, "0, not absent"
    assert (
        sample(
            metrics, "compose_flowise_scale_events_total", service="flowise-worker", direction="up"
        )
        == 0
    )


def test_a_source_that_fails_leaves_no_last_value_behind() -> None:
    metrics = Metrics("1")
    metrics.record(report(100.0, READ), State(), 0.01)
    metrics.record(report(102.0, REDIS_DOWN), State(), 0.01)
    assert sample(metrics, "compose_flowise_queue_backlog_jobs", signal=QUEUE) is None
    assert sample(metrics, "compose_flowise_queue_arrivals_per_second", signal=QUEUE) is None
    assert sample(metrics, "compose_flowise_source_up", source="redis") == 0
    assert sample(metrics, "compose_flowise_nginx_in_flight_requests", signal=NGINX) == 7
    metrics.record(report(104.0, READ), State(), 0.01)
    assert sample(metrics, "compose_flowise_queue_backlog_jobs", signal=QUEUE) == 5, (
        "back when read"
    )


def test_a_rate_not_known_yet_is_absent_not_zero() -> None:
    metrics = Metrics("1")
    metrics.record(report(100.0, {NGINX: HttpLoad(3, None)}), State(), 0.01)
    assert sample(metrics, "compose_flowise_nginx_in_flight_requests", signal=NGINX) == 3
    assert sample(metrics, "compose_flowise_nginx_requests_per_second", signal=NGINX) is None


def test_with_docker_unreachable_the_replicas_are_absent_not_zero() -> None:
    metrics = Metrics("1")
    metrics.record(report(100.0, READ), State(), 0.01)
    assert (
        sample(metrics, "compose_flowise_replicas", service="flowise-worker", kind="desired") == 3
    )
    metrics.record(report(102.0, READ, docker_up=False), State(), 0.01)
    for kind in ("current", "ready", "desired"):
        assert (
            sample(metrics, "compose_flowise_replicas", service="flowise-worker", kind=kind) is None
        )
    assert sample(metrics, "compose_flowise_source_up", source="docker") == 0
    assert sample(metrics, "compose_flowise_last_successful_tick_timestamp_seconds") == 100.0


def test_tick_duration_buckets_reach_minutes() -> None:
    metrics = Metrics("1")
    metrics.record(report(100.0, READ), State(), 240.0)
    assert sample(metrics, "compose_flowise_tick_duration_seconds_bucket", le="120.0") == 0
    assert sample(metrics, "compose_flowise_tick_duration_seconds_bucket", le="300.0") == 1


def daemon_for(
    tmp_path: Path, free_ports: Callable[[], int], **daemon_settings: object
) -> daemon_module.Daemon:
    settings = Settings.model_validate({
        "redis": {"url": f"redis://127.0.0.1:{free_ports()}/0", "timeout_seconds": 0.5},
        "nginx": {"stub_status_url": f"http://127.0.0.1:{free_ports()}/nginx_status"},
        "daemon": {"state_file": str(tmp_path / "s.json"), **daemon_settings},
    })  # fmt: skip
    loaded = LoadedConfig(settings, "test")
    return daemon_module.Daemon(loaded, lambda: loaded, dry_run=True, log_format="json")


def test_every_source_down_counts_each_failure_once_per_tick(
    tmp_path, monkeypatch, free_ports
) -> None:
    """The default services read nginx through two signals and Redis through two queues."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    daemon = daemon_for(tmp_path, free_ports)
    daemon.tick()
    daemon.tick()
    registry = daemon._metrics.registry
    for source in ("nginx", "redis", "docker"):
        assert registry.get_sample_value("compose_flowise_errors_total", {"source": source}) == 2
        assert registry.get_sample_value("compose_flowise_source_up", {"source": source}) == 0
    assert (
        registry.get_sample_value(
            "compose_flowise_replicas", {"service": "flowise", "kind": "current"}
        )
        is None
    )
    assert (
        registry.get_sample_value(
            "compose_flowise_build_info", {"version": version("compose-flowise")}
        )
        == 1
    )


def test_metrics_listen_on_the_configured_address(tmp_path, free_ports) -> None:
    port = free_ports()
    daemon = daemon_for(tmp_path, free_ports, metrics_address="127.0.0.2", metrics_port=port)
    server = daemon._serve_metrics()
    assert server is not None
    try:
        scraped = requests.get(f"http://127.0.0.2:{port}/metrics", timeout=5)
        assert "compose_flowise_build_info" in scraped.text
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_the_default_metrics_address_is_loopback() -> None:
    assert str(Settings().daemon.metrics_address) == "127.0.0.1"


def test_a_metrics_address_that_is_not_an_ip_is_rejected(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[daemon]\nmetrics_address = "everywhere"\n')
    with pytest.raises(ConfigError, match=r"daemon\.metrics_address"):
        load(config, {})


def logged_tick(caplog, result: TickReport) -> dict:
    with caplog.at_level(logging.INFO, logger="compose-flowise"):
        log_tick("json", result, 0.02)
    (line,) = (record.getMessage() for record in caplog.records)
    return json.loads(line)


LEVELS = {
    "no error": ((), True, "info"),
    "a source down: the policy held": (("queue: redis: ConnectionError",), True, "warning"),
    "Docker unreachable: the tick failed": (("docker: Cannot connect",), False, "error"),
}  # fmt: skip


@pytest.mark.parametrize("errors, docker_up, level", LEVELS.values(), ids=LEVELS.keys())
def test_a_json_tick_line_has_its_time_and_the_level_of_its_errors(
    caplog, errors, docker_up, level
) -> None:
    result = report(100.0, READ, docker_up)
    result = replace(result, record=replace(result.record, errors=errors))
    line = logged_tick(caplog, result)
    assert line["level"] == level
    assert line["errors"] == list(errors)
    assert datetime.fromisoformat(line["time"]).tzinfo is not None
    assert caplog.records[0].levelname == level.upper()
