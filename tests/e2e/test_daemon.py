"""The daemon as an operator runs it: the real CLI in its own process, on a real engine, with
faults injected by stopping real services."""

from __future__ import annotations

import asyncio
import json
import re
import signal
from pathlib import Path

import pytest
import redis
import requests
from bullmq import Worker
from harness import Daemon, Stack, free_port, run_cli
from harness import add_jobs as add_to_queue
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.e2e

QUEUE = "flowise-queue-prediction"


def services(worker_scale_down_window: int = 0) -> dict:
    return {
        "flowise": {
            "min_replicas": 1, "max_replicas": 3,
            "signals": [{"kind": "nginx_in_flight", "target_per_replica": 5}],
            "behavior": {"scale_down": {"stabilization_window_seconds": 0}},
        },
        "flowise-worker": {
            "min_replicas": 1, "max_replicas": 3,
            "signals": [{"kind": "bullmq_queue", "queue": QUEUE,
                         "jobs_per_second_per_replica": 1, "drain_backlog_seconds": 10}],
            "behavior": {"scale_down": {"stabilization_window_seconds": worker_scale_down_window}},
        },
    }  # fmt: skip


@pytest.fixture
def config(stack: Stack, tmp_path: Path) -> Path:
    daemon = {"interval_seconds": 1, "state_file": str(tmp_path / "state" / "state.json"),
              "metrics_port": free_port()}  # fmt: skip
    return stack.config_file(tmp_path / "config.toml", daemon=daemon, services=services())


def add_jobs(stack: Stack, count: int) -> None:
    add_to_queue(stack.settings, QUEUE, count)


@pytest.fixture
def daemons():
    started: list[Daemon] = []

    def start(config: Path) -> Daemon:
        started.append(Daemon(config))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()


def workers(stack: Stack) -> int:
    return len(stack.running("flowise-worker"))


def test_once_scales_the_workers_out_on_a_backlog(stack, config) -> None:
    add_jobs(stack, 30)
    result = run_cli("daemon", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "flowise-worker 1 -> 3" in result.stderr
    assert workers(stack) == 3


def test_dry_run_explains_and_changes_nothing(stack, config) -> None:
    add_jobs(stack, 30)
    result = run_cli("daemon", "--once", "--dry-run", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "flowise-worker 1 -> 3" in result.stderr and "[acted]" not in result.stderr
    assert "plan: docker compose up --scale flowise-worker=3 (adds 2)" in result.stderr
    assert workers(stack) == 1


def test_json_logs_one_object_per_tick(stack, config) -> None:
    result = run_cli(
        "daemon", "--once", "--dry-run", "--log-format", "json", "--config", str(config)
    )
    assert result.returncode == 0, result.stderr
    ticks = [json.loads(line) for line in result.stderr.splitlines() if '"event": "tick"' in line]
    assert len(ticks) == 1
    assert ticks[0]["leading"] is True
    assert ticks[0]["level"] == ("warning" if ticks[0]["errors"] else "info")
    assert ticks[0]["time"].endswith("+00:00")
    assert ticks[0]["services"]["flowise"]["current"] == 1


def test_sigterm_finishes_the_tick_exits_0_and_frees_the_lease(stack, config, daemons) -> None:
    daemon = daemons(config)
    daemon.wait_for(r"tick \(leading")
    assert daemon.stop() == 0
    daemon.wait_for("stopped")
    lease = redis.Redis.from_url(str(stack.settings.redis.url))
    assert lease.get(f"compose-flowise:lease:{stack.settings.compose.project_name}") is None


def test_sighup_rejects_a_bad_config_and_takes_a_good_one(stack, config, daemons) -> None:
    daemon = daemons(config)
    daemon.wait_for(r"tick \(leading")
    good = config.read_text()
    config.write_text(good + "\n[surprise]\n")
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for(r"config not reloaded: .*config.toml: surprise: unknown key")
    daemon.ticks_from_now(1)  # the old config goes on (a tick like the last logs no line)
    config.write_text(good.replace("interval_seconds = 1", "interval_seconds = 2"))
    daemon.process.send_signal(signal.SIGHUP)
    daemon.wait_for("config reloaded")
    daemon.ticks_from_now(1)
    assert daemon.stop() == 0


def test_a_metrics_port_in_use_is_a_clear_error(stack, config, daemons) -> None:
    daemons(config).wait_for(r"tick \(leading")
    second = run_cli("daemon", "--config", str(config), timeout=60)
    assert second.returncode == 1
    assert "cannot serve metrics on 127.0.0.1:" in second.stderr
    assert "Traceback" not in second.stderr


def test_metrics_and_status_show_real_figures_and_no_secret(stack, config, daemons) -> None:
    add_jobs(stack, 5)
    daemon = daemons(config)
    daemon.wait_for(r"tick \(leading")
    port = re.search(r"metrics_port = (\d+)", config.read_text())[1]
    metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert 'compose_flowise_replicas{kind="desired",service="flowise-worker"}' in metrics
    assert f'compose_flowise_queue_backlog_jobs{{signal="bullmq_queue:{QUEUE}"}} 5.0' in metrics
    assert 'compose_flowise_source_up{source="redis"} 1.0' in metrics
    assert "compose_flowise_leading 1.0" in metrics
    result = run_cli("status", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["metrics"][f"bullmq_queue:{QUEUE}"]["backlog"] == 5
    assert report["daemon"]["last_tick"]["leading"] is True
    assert report["services"]["flowise"]["replicas"][0]["health"] == "healthy"
    password = stack.settings.redis.url.password
    assert password and password not in result.stdout + result.stderr
    assert password not in "\n".join(daemon.lines)


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "compose-flowise.json"


def dashboard_metrics() -> set[str]:
    """Every compose_flowise_* series name the shipped Grafana dashboard queries."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = [target["expr"] for panel in panels for target in panel["targets"]]
    return {name for query in queries for name in re.findall(r"compose_flowise_\w+", query)}


def scraped(port: str) -> set[str]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples}  # fmt: skip


def work_for(stack: Stack, seconds: float) -> None:
    """A real BullMQ worker takes the queue's jobs for `seconds` (the stack's stand-in workers
    take none), so that jobs finish between two of the daemon's reads."""

    async def process(_job, _token) -> str:
        await asyncio.sleep(0.05)
        return "done"

    async def work() -> None:
        worker = Worker(QUEUE, process, {"connection": str(stack.settings.redis.url)})
        await asyncio.sleep(seconds)
        await worker.close(force=True)  # a graceful close can wait forever (test_bullmq_source)

    asyncio.run(work())


def test_every_metric_the_dashboard_queries_is_in_a_real_scrape(stack, config, daemons) -> None:
    wanted = dashboard_metrics()
    assert len(wanted) >= 15, wanted
    daemon = daemons(config)
    daemon.wait_for(r"tick \(leading")
    port = re.search(r"metrics_port = (\d+)", config.read_text())[1]
    seen = scraped(port)
    for _ in range(30):  # rates need two reads, a job's run time a job finished between them
        if wanted <= seen:
            break
        add_jobs(stack, 2)
        work_for(stack, 1.5)
        seen |= scraped(port)
    log = "\n".join(daemon.lines[-20:])
    assert wanted <= seen, f"the dashboard queries what no scrape had: {wanted - seen}\n{log}"


def test_a_second_daemon_stands_by_and_takes_over(stack, config, daemons) -> None:
    first = daemons(config)
    first.wait_for(r"tick \(leading")
    second_config = config.with_name("second.toml")
    second_config.write_text(
        re.sub(r"metrics_port = \d+", f"metrics_port = {free_port()}", config.read_text())
    )
    second = daemons(second_config)
    second.wait_for(r"tick \(standing by")
    assert first.stop() == 0
    second.wait_for(r"tick \(leading", timeout=30)


def test_nginx_down_holds_the_mains_and_recovery_follows(stack, config, daemons) -> None:
    stack.scaler().scale("flowise", 3, stack.scaler().snapshot())
    stack.docker.compose.stop(["nginx"])
    daemon = daemons(config)
    daemon.wait_for(r"errors: .*nginx stub_status")
    daemon.ticks_from_now(3)  # logged once: the ticks after it say nothing new
    assert len(stack.running("flowise")) == 3, "no metric, no scale-down"
    stack.docker.compose.start(["nginx"])
    daemon.wait_for(r"flowise 3 -> 1.*\[acted\]", timeout=180)
    daemon.wait_for(r"flowise 3 -> 1 done", timeout=120)
    assert len(stack.running("flowise")) == 1


def test_redis_frozen_holds_the_workers_and_recovery_follows(stack, tmp_path, daemons) -> None:
    daemon_settings = {"interval_seconds": 1, "state_file": str(tmp_path / "state.json"),
                       "metrics_port": 0}  # fmt: skip
    config = stack.config_file(tmp_path / "config.toml", daemon=daemon_settings,
                               services=services(worker_scale_down_window=6))  # fmt: skip
    add_jobs(stack, 25)
    daemon = daemons(config)
    daemon.wait_for(r"flowise-worker 1 -> 3.*\[acted\]")
    client = redis.Redis.from_url(str(stack.settings.redis.url))
    client.delete(f"bull:{QUEUE}:wait")  # the backlog is gone: with data, it would scale in
    stack.docker.compose.pause(["redis"])
    daemon.wait_for(r"errors: .*redis")
    daemon.ticks_from_now(8)  # longer than the scale-down window
    assert workers(stack) == 3, "no metric, no scale-down"
    stack.docker.compose.unpause(["redis"])
    daemon.wait_for(r"flowise-worker 3 -> 1.*\[acted\]", timeout=180)


def test_with_redis_away_longer_than_the_lease_the_upstream_still_drops_a_stopped_main(
    stack, tmp_path, daemons
) -> None:
    """Nobody leads without Redis (the lease runs out), so nothing scales; routing is no
    scaling: nginx still stops sending requests to a main that is gone."""
    settings = stack.settings.model_dump(mode="json", exclude_none=True)
    short_lease = {  # the lease outlives the longest action: its timeouts, shortened here
        "compose": {**settings["compose"], "ready_timeout_seconds": 10},
        "nginx": {**settings["nginx"], "drain_timeout_seconds": 5},
        "daemon": {"interval_seconds": 1, "state_file": str(tmp_path / "state.json"),
                   "metrics_port": 0},
        "services": {"flowise": {"min_replicas": 2, "max_replicas": 3}, "flowise-worker": False},
    }  # fmt: skip
    config = stack.config_file(tmp_path / "config.toml", **short_lease)
    stack.scaler().scale("flowise", 2, stack.scaler().snapshot())
    daemon = daemons(config)
    daemon.wait_for(r"tick \(leading")
    stack.docker.compose.stop(["redis"])
    try:
        daemon.wait_for(r"tick \(standing by", timeout=90)
        gone = stack.running("flowise")[-1]
        address = next(iter(gone.network_settings.networks.values())).ip_address
        assert f"server {address}:3000 " in stack.upstream_text(), "the premise: it was routed"
        stack.docker.container.stop(gone)
        daemon.ticks_from_now(3)
        assert f"server {address}:3000 " not in stack.upstream_text()
        assert stack.upstream_text().count("max_fails") == 1
    finally:
        stack.docker.compose.start(["redis"])
    daemon.wait_for(r"tick \(leading", timeout=90)


def test_scale_pins_the_count_until_released(stack, config) -> None:
    pinned = run_cli("scale", "flowise=3", "--for", "1h", "--config", str(config))
    assert pinned.returncode == 0, pinned.stderr
    assert "flowise: 1 -> 3, pinned until" in pinned.stdout
    assert stack.upstream_text().count("max_fails") == 3
    held = run_cli("daemon", "--once", "--config", str(config))
    assert "pinned by hand" in held.stderr and len(stack.running("flowise")) == 3
    released = run_cli("scale", "--auto", "--service", "flowise", "--config", str(config))
    assert "released the pin at 3" in released.stdout
    run_cli("daemon", "--once", "--config", str(config))
    assert len(stack.running("flowise")) == 1, "idle mains scale in once the pin is gone"
