"""The daemon: an APScheduler interval job runs one tick at a time; signals steer it. A tick
only starts scaling actions: each service's runs in a thread of its own (`Actions`), so no tick
waits on a readiness wait or a drain, and none is skipped.

Signal handlers only set flags. SIGTERM/SIGINT: every wait in progress (readiness, drain) ends
at once, the tick in progress and every action end, the lease is released, exit 0; what a cut
action left behind the next start reconciles. SIGHUP: the config is read again before the next
tick; an invalid one is logged with its reasons and the old one kept.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from types import FrameType
from wsgiref.simple_server import WSGIServer

from apscheduler.schedulers.background import BackgroundScheduler

from autoscaler import config
from autoscaler.actuators.transaction import ScaleOutcome
from autoscaler.actuators.warm import WarmPool
from autoscaler.config import service_timing
from autoscaler.errors import Interrupted, OperatorError
from autoscaler.runtime import wiring
from autoscaler.runtime.actions import Actions, Finished
from autoscaler.runtime.autoscaler import Autoscaler, TickReport
from autoscaler.runtime.telemetry import (
    Metrics,
    log_event,
    log_tick,
    notify_systemd,
    setup_logging,
)
from autoscaler.stopping import StopSignal

_JOB = "tick"
_REFILL_JOB = "warm-refill"
QUIET_TICK_LOG_SECONDS = 60.0
"""A tick like the last one logged is logged at most this often: a heartbeat, or a short
reminder of what is still down, not a flood."""


class DaemonError(OperatorError):
    pass


class Daemon:
    def __init__(
        self,
        loaded: config.LoadedConfig,
        reload_config: Callable[[], config.LoadedConfig],
        dry_run: bool,
        log_format: str,
        stop: StopSignal | None = None,
    ) -> None:
        self._reload_config = reload_config
        self._dry_run = dry_run
        self._log_format = log_format
        self._stop = stop or StopSignal()
        self._reload_requested = threading.Event()
        self._metrics = Metrics(version("compose-flowise"))
        self._following_events = False
        self._last_logged: TickReport | None = None
        self._last_line_at = float("-inf")
        self._actions = Actions()
        self._pool = WarmPool()
        self._leading = False
        self._use(loaded)

    def run_once(self) -> bool:
        """One tick and the actions it started; True when it ran and nothing failed (see
        TickReport.failed)."""
        report = self.tick()
        finished = self._finish_actions()
        self._autoscaler.lease.release()
        failed = any(action.error for action in finished.values())
        return report is not None and not report.failed and not failed

    def run(self) -> None:
        self._serve_metrics()
        scheduler = BackgroundScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self._scheduler = scheduler
        scheduler.add_job(self._scheduled_tick, "interval", id=_JOB, next_run_time=datetime.now(),
                          seconds=self._settings.daemon.interval_seconds)  # fmt: skip
        scheduler.add_job(self._refill_warm_pools, "interval", id=_REFILL_JOB,
                          seconds=self._settings.daemon.interval_seconds)  # fmt: skip
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        self._following_events = True
        self._watch.start()
        scheduler.start()
        notify_systemd("READY=1")
        self._event(logging.INFO, "started", f"started ({self._source}), "
                    f"every {self._settings.daemon.interval_seconds:g}s"
                    + (", dry run: deciding only" if self._dry_run else ""))  # fmt: skip
        self._stop.wait_for_stop()
        notify_systemd(
            f"STOPPING=1\nEXTEND_TIMEOUT_USEC={_usec(service_timing.stop_seconds(self._settings))}"
        )
        self._event(logging.INFO, "stopping", "stopping: ending the tick and actions in progress")
        scheduler.shutdown(wait=True)
        self._finish_actions()
        self._actions.shutdown()
        self._watch.close()
        self._autoscaler.lease.release()
        self._event(logging.INFO, "stopped", "stopped")

    def tick(self) -> TickReport | None:
        """One tick, never raising: a failure is logged and the next tick tries again."""
        started = time.monotonic()
        try:
            report = self._autoscaler.tick()
        except Interrupted:
            self._event(logging.WARNING, "tick-interrupted",
                        "tick cut short by the stop: the next start reconciles")  # fmt: skip
            return None
        except Exception as error:  # noqa: BLE001 (the loop must outlive any one tick)
            self._metrics.errors.labels("tick").inc()
            self._event(logging.ERROR, "tick-failed", f"tick failed: {error!r}")
            return None
        finally:
            notify_systemd("WATCHDOG=1")
        seconds = time.monotonic() - started
        self._leading = report.record.leading
        self._metrics.record(report, report.state, seconds)
        self._log_finished(report.finished)
        self._log_tick(report, seconds)
        return report

    def _finish_actions(self) -> dict[str, Finished]:
        finished = self._autoscaler.finish_actions()
        self._log_finished(finished)
        return finished

    def _log_finished(self, finished: dict[str, Finished]) -> None:
        for service, action in finished.items():
            self._event(*finished_line(service, action, time.time()))

    def _log_tick(self, report: TickReport, seconds: float) -> None:
        """The whole tick when something changed; else, once a minute, the whole tick when all
        is well, a short reminder when something is still down."""
        at, last = report.record.at, self._last_logged
        if last is None or _changed(last, report):
            log_tick(self._log_format, report, seconds)
            self._last_logged, self._last_line_at = report, at
        elif at - self._last_line_at >= QUIET_TICK_LOG_SECONDS:
            if report.record.errors:
                self._remind(report, since=last.record.at)
            else:
                log_tick(self._log_format, report, seconds)
            self._last_line_at = at

    def _remind(self, report: TickReport, since: float) -> None:
        failing = ", ".join(sorted(report.failed_sources)) or "a read"
        when = datetime.fromtimestamp(since).isoformat(sep=" ", timespec="seconds")
        self._event(logging.WARNING, "still-failing", f"still failing: {failing}, since {when} "
                    "(the tick logged then says why)")  # fmt: skip

    def _scheduled_tick(self) -> None:
        if self._reload_requested.is_set():
            self._reload_requested.clear()
            self._reload()
        self.tick()

    def _serve_metrics(self) -> WSGIServer | None:
        settings = self._settings.daemon
        address, port = str(settings.metrics_address), settings.metrics_port
        if not port:
            return None
        try:
            return self._metrics.serve(address, port)
        except OSError as error:
            raise DaemonError(f"cannot serve metrics on {address}:{port} ({error.strerror}): "
                              "set daemon.metrics_port to a free port (0: none) and "
                              "daemon.metrics_address to one of this host") from None  # fmt: skip

    def _use(self, loaded: config.LoadedConfig) -> None:
        self._settings = loaded.settings
        notify_systemd(f"WATCHDOG_USEC={_usec(service_timing.watchdog_seconds(loaded.settings))}")
        self._source = loaded.source
        watch = wiring.replica_watch(loaded.settings, self._pool)
        self._autoscaler: Autoscaler = wiring.autoscaler(
            loaded.settings, self._dry_run, self._stop, watch, self._actions, pool=self._pool
        )
        self._refill = wiring.warm_refill(
            loaded.settings, self._stop, self._pool, self._warm_pool_changed
        )
        previous, self._watch = getattr(self, "_watch", None), watch
        if previous is not None:
            previous.close()
        if self._following_events:
            watch.start()

    def _refill_warm_pools(self) -> None:
        """Beside the ticks, never in their way; only the daemon that acts refills, and not
        while an upgrade holds the counts. Without a warm pool, reads nothing."""
        if self._refill is None or self._dry_run or not self._leading:
            return
        state_file = wiring.state_store(self._settings)
        try:
            with state_file.refilling(wait=False) as free:
                if free and not state_file.read().held(time.time()):
                    self._refill.refill()
        except Interrupted:
            return
        except Exception as error:  # noqa: BLE001 (the next round tries again)
            self._metrics.errors.labels("warm-refill").inc()
            self._event(logging.ERROR, "warm-refill-failed", f"warm pool refill failed: {error!r}")

    def _warm_pool_changed(self, message: str) -> None:
        """A replica joined or left the pool: the next tick lists the replicas again."""
        self._watch.invalidate()
        self._event(logging.INFO, "warm-pool", message)

    def _on_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self._stop.request()

    def _on_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self._reload_requested.set()

    def _reload(self) -> None:
        try:
            loaded = self._reload_config()
        except config.ConfigError as error:
            for problem in error.problems:
                self._event(logging.ERROR, "reload-rejected", f"config not reloaded: {problem}")
            return
        old_interval = self._settings.daemon.interval_seconds
        self._use(loaded)
        interval = loaded.settings.daemon.interval_seconds
        if interval != old_interval:
            self._scheduler.reschedule_job(_JOB, trigger="interval", seconds=interval)
        self._event(logging.INFO, "reloaded", f"config reloaded from {loaded.source}")

    def _event(self, level: int, event: str, message: str) -> None:
        log_event(self._log_format, level, event, message)


def _changed(last: TickReport, report: TickReport) -> bool:
    """An action or a change decided, a change of role, or of what fails: the sources down
    (an error's words may differ from tick to tick: a timeout's, an address in it)."""
    if report.record.leading != last.record.leading:
        return True
    if any(s.acted or s.desired != s.current for s in report.record.services.values()):
        return True
    failing = (report.failed_sources, bool(report.record.errors))
    return failing != (last.failed_sources, bool(last.record.errors))


def finished_line(service: str, action: Finished, now: float) -> tuple[int, str, str]:
    """The log line of an action that ended: (level, event, message)."""
    what = f"{service} {action.plan.summary}"
    took = f"after {now - action.started_at:.1f}s"
    if action.error:
        return logging.ERROR, "action-failed", f"{what} failed {took}: {action.error}"
    removed = action.outcome.removed if isinstance(action.outcome, ScaleOutcome) else ()
    chosen = f": removed {', '.join(removed)}" if removed else ""  # the tick's plan named none
    return logging.INFO, "action-done", f"{what} done {took}{chosen}"


def _usec(seconds: int) -> int:
    return seconds * 1_000_000


def run_daemon(
    config_path: Path | None,
    environ: dict[str, str],
    once: bool,
    dry_run: bool,
    log_format: str,
) -> int:
    """The daemon until stopped (exit 0), or one tick (exit 1 when it failed)."""
    setup_logging(log_format)

    def load() -> config.LoadedConfig:
        return config.load(config_path, environ)

    daemon = Daemon(load(), load, dry_run, log_format)
    if once:
        return 0 if daemon.run_once() else 1
    daemon.run()
    return 0
