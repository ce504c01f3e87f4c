"""What the daemon tells systemd and its operators, and that one bad tick is not the end."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from autoscaler.config import LoadedConfig, Settings, service_timing
from autoscaler.runtime import daemon as daemon_module
from autoscaler.runtime.autoscaler import TickReport
from autoscaler.runtime.observe import Observed
from autoscaler.runtime.state import ServiceRecord, State, TickRecord
from autoscaler.runtime.telemetry import Metrics, notify_systemd
from autoscaler.signals.bullmq_reads import QueueLoad


def test_notify_reaches_systemds_socket(tmp_path: Path, monkeypatch) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        notify_systemd("READY=1")
        assert systemd.recv(64) == b"READY=1"


def test_notify_outside_systemd_does_nothing(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notify_systemd("WATCHDOG=1")


def test_the_daemon_tells_systemd_the_watchdog_of_the_config_it_runs(tmp_path, monkeypatch) -> None:
    address = str(tmp_path / "notify")
    slow = Settings.model_validate(
        {
            "daemon": {"state_file": str(tmp_path / "s.json")},
            "redis": {"timeout_seconds": 60},
        }
    )
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(address)
        monkeypatch.setenv("NOTIFY_SOCKET", address)
        daemon = daemon_for(tmp_path, lambda: LoadedConfig(slow, "edited"))
        started = systemd.recv(64).decode()
        daemon._on_reload(signal.SIGHUP, None)
        daemon._reload()
        reloaded = systemd.recv(64).decode()
    assert started == f"WATCHDOG_USEC={service_timing.watchdog_seconds(Settings()) * 10**6}"
    assert reloaded == f"WATCHDOG_USEC={service_timing.watchdog_seconds(slow) * 10**6}"
    assert service_timing.watchdog_seconds(slow) > 9 * 60, "nine Redis reads of a minute each"


def test_a_tick_that_raises_is_logged_counted_and_survived(tmp_path, monkeypatch, caplog) -> None:
    settings = Settings.model_validate({"daemon": {"state_file": str(tmp_path / "s.json")}})
    loaded = LoadedConfig(settings, "test")
    daemon = daemon_module.Daemon(loaded, lambda: loaded, dry_run=True, log_format="human")

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(daemon._autoscaler, "tick", broken)
    with caplog.at_level(logging.ERROR, logger="compose-flowise"):
        daemon.tick()
        daemon.tick()
    assert [r.getMessage() for r in caplog.records] == ["tick failed: RuntimeError('boom')"] * 2
    registry = daemon._metrics.registry
    assert registry.get_sample_value("compose_flowise_errors_total", {"source": "tick"}) == 2


def daemon_for(tmp_path: Path, reload_config=None) -> daemon_module.Daemon:
    settings = Settings.model_validate({"daemon": {"state_file": str(tmp_path / "s.json")}})
    loaded = LoadedConfig(settings, "test")
    return daemon_module.Daemon(loaded, reload_config or (lambda: loaded), True, "human")


def test_once_reports_a_failed_tick(tmp_path, monkeypatch) -> None:
    daemon = daemon_for(tmp_path)

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(daemon._autoscaler, "tick", broken)
    assert daemon.run_once() is False


def test_signal_handlers_only_set_flags(tmp_path, monkeypatch) -> None:
    reloads: list[str] = []

    def reload_config() -> LoadedConfig:
        reloads.append("read")
        return LoadedConfig(Settings(), "reloaded")

    daemon = daemon_for(tmp_path, reload_config)
    monkeypatch.setattr(daemon, "tick", lambda: None)
    daemon._on_reload(signal.SIGHUP, None)
    daemon._on_stop(signal.SIGTERM, None)
    assert reloads == [], "SIGHUP reads no config in the handler"
    assert daemon._stop.requested
    daemon._scheduled_tick()
    assert reloads == ["read"], "the reload happens before the next tick"


def tick_report(at: float, leading=True, down=(), desired=1, acted=False) -> TickReport:
    service = ServiceRecord(1, 1, desired, "w 1 -> 1", acted)
    errors = tuple(f"{source}: refused at 0x{int(at):x}" for source in down)  # words vary
    record = TickRecord(at, "host:1", leading, {"w": service}, errors)
    return TickReport(record, Observed(at, {}, {}), {}, failed_sources=frozenset(down))


QUIET = {
    "the first tick": ([], tick_report(0), True),
    "nothing happened since the last line": ([tick_report(0)], tick_report(2), False),
    "a quiet minute ends": ([tick_report(0)], tick_report(60), True),
    "a source goes down": ([tick_report(0)], tick_report(2, down=["redis"]), True),
    "the same sources still down": (
        [tick_report(0, down=["redis"])], tick_report(2, down=["redis"]), False),
    "another source goes down": (
        [tick_report(0, down=["redis"])], tick_report(2, down=["redis", "nginx"]), True),
    "every source answers again": ([tick_report(0, down=["redis"])], tick_report(2), True),
    "a change decided": ([tick_report(0)], tick_report(2, desired=3), True),
    "a change of role": ([tick_report(0)], tick_report(2, leading=False), True),
}  # fmt: skip


@pytest.mark.parametrize("logged, report, expected", QUIET.values(), ids=QUIET.keys())
def test_a_whole_tick_is_logged_when_something_changed(
    tmp_path, caplog, logged, report, expected
) -> None:
    caplog.set_level(logging.INFO)
    daemon = daemon_for(tmp_path)
    for earlier in logged:
        daemon._log_tick(earlier, 0.01)
    caplog.clear()
    daemon._log_tick(report, 0.01)
    assert [r.message.startswith("tick (") for r in caplog.records] == ([True] if expected else [])


def test_sources_down_for_minutes_are_logged_once_then_reminded_once_a_minute(
    tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO)
    daemon = daemon_for(tmp_path)
    for at in range(0, 180, 2):  # three minutes of 2 s ticks with Redis and nginx down
        daemon._log_tick(tick_report(at, down=["redis", "nginx"]), 0.01)
    daemon._log_tick(tick_report(180), 0.01)
    lines = [(r.levelno, r.message.partition(" (")[0].partition(", since")[0])
             for r in caplog.records]  # fmt: skip
    reminder = (logging.WARNING, "still failing: nginx, redis")
    assert lines == [
        (logging.WARNING, "tick"), reminder, reminder, (logging.INFO, "tick"),
    ]  # fmt: skip


def test_stalled_jobs_are_counted_as_each_read_finds_them() -> None:
    metrics = Metrics("1")
    for stalled in (None, 0, 2, 1):
        read = QueueLoad(0, 0, arrival_rate=None, completion_rate=None, stalled=stalled)
        record = TickRecord(0, "host:1", True)
        metrics.record(TickReport(record, Observed(0, {"queue": read}, {}), {}), State(), 0.01)
    counted = metrics.registry.get_sample_value(
        "compose_flowise_jobs_stalled_total", {"signal": "queue"}
    )
    assert counted == 3


@dataclass(frozen=True)
class SlowPlan:
    service: str = "w"
    summary: str = "1 -> 2"

    def steps(self) -> tuple[str, ...]:
        return ()


def test_the_ticks_feed_the_watchdog_while_an_action_runs_and_no_action_does(
    tmp_path, monkeypatch
) -> None:
    daemon = daemon_for(tmp_path)
    pings: list[tuple[str, str]] = []
    monkeypatch.setattr(daemon_module, "notify_systemd",
                        lambda m: pings.append((m, threading.current_thread().name)))  # fmt: skip
    action_ends = threading.Event()

    def starting_a_slow_action() -> TickReport:
        if not daemon._actions.busy("w"):
            daemon._actions.start(SlowPlan(), 0.0, lambda: action_ends.wait(30))
        return tick_report(0)

    monkeypatch.setattr(daemon._autoscaler, "tick", starting_a_slow_action)
    for _ in range(3):
        daemon.tick()
    assert daemon._actions.in_progress(), "the action still runs"
    action_ends.set()
    daemon._finish_actions()
    assert pings == [("WATCHDOG=1", threading.current_thread().name)] * 3
