"""The daemon: an APScheduler interval job runs one tick at a time; signals steer it.

SIGTERM/SIGINT: the tick in progress finishes, then it exits 0. SIGHUP: the config is read
again; an invalid one is logged with its reasons and the old one kept.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler

from autoscaler import config, wiring
from autoscaler.loop import Tick
from autoscaler.observability import (
    Metrics,
    log_event,
    log_tick,
    notify_systemd,
    setup_logging,
)

_JOB = "tick"


class DaemonError(Exception):
    pass


class Daemon:
    def __init__(
        self,
        loaded: config.LoadedConfig,
        reload_config: Callable[[], config.LoadedConfig],
        dry_run: bool,
        log_format: str,
    ) -> None:
        self._reload_config = reload_config
        self._dry_run = dry_run
        self._log_format = log_format
        self._metrics = Metrics()
        self._use(loaded)

    def run_once(self) -> None:
        self.tick()
        self._tick.lease.release()

    def run(self) -> None:
        port = self._settings.daemon.metrics_port
        if port:
            try:
                self._metrics.serve(port)
            except OSError as error:
                raise DaemonError(f"cannot serve metrics on 127.0.0.1:{port} ({error.strerror}): "
                                  "set daemon.metrics_port to a free port, or 0") from None
        scheduler = BlockingScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self._scheduler = scheduler
        scheduler.add_job(self.tick, "interval", id=_JOB, next_run_time=datetime.now(),
                          seconds=self._settings.daemon.interval_seconds)  # fmt: skip
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGHUP, self._reload)
        notify_systemd("READY=1")
        self._event(logging.INFO, "started", f"started ({self._source}), "
                    f"every {self._settings.daemon.interval_seconds:g}s"
                    + (", dry run: deciding only" if self._dry_run else ""))
        scheduler.start()
        self._tick.lease.release()
        self._event(logging.INFO, "stopped", "stopped")

    def tick(self) -> None:
        """One tick, never raising: a failure is logged and the next tick tries again."""
        tick, started = self._tick, time.monotonic()
        try:
            result = tick()
        except Exception as error:  # noqa: BLE001 (the loop must outlive any one tick)
            self._metrics.errors.labels("tick").inc()
            self._event(logging.ERROR, "tick-failed", f"tick failed: {error!r}")
        else:
            seconds = time.monotonic() - started
            self._metrics.record(result, tick.state_file.read(), seconds)
            log_tick(self._log_format, result, seconds)
        notify_systemd("WATCHDOG=1")

    def _use(self, loaded: config.LoadedConfig) -> None:
        self._settings = loaded.settings
        self._source = loaded.source
        self._tick: Tick = wiring.tick(loaded.settings, self._dry_run)

    def _stop(self, signum: int, _frame) -> None:
        notify_systemd("STOPPING=1")
        self._event(logging.INFO, "stopping", f"signal {signum}: finishing the tick, then exiting")
        self._scheduler.shutdown(wait=True)

    def _reload(self, _signum: int, _frame) -> None:
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


def run_daemon(
    config_path: Path | None, environ, once: bool, dry_run: bool, log_format: str
) -> int:
    setup_logging(log_format)

    def load() -> config.LoadedConfig:
        return config.load(config_path, environ)

    daemon = Daemon(load(), load, dry_run, log_format)
    if once:
        daemon.run_once()
    else:
        daemon.run()
    return 0
