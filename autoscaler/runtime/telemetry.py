"""What the daemon tells the outside: one log line per tick, Prometheus metrics (on 127.0.0.1
unless the config says otherwise), and systemd's notify protocol (READY, WATCHDOG, STOPPING)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    start_http_server,
)

from autoscaler.runtime.autoscaler import TickReport
from autoscaler.runtime.state import ServiceRecord, State
from autoscaler.signals import Reading
from autoscaler.signals.kind import Figure

log = logging.getLogger("compose-flowise")


def setup_logging(log_format: str) -> None:
    """Human lines or JSON; no timestamp of ours under journald, which stamps every line."""
    handler = logging.StreamHandler(sys.stderr)
    under_journald = bool(os.environ.get("JOURNAL_STREAM"))
    if log_format == "json":
        handler.setFormatter(logging.Formatter("%(message)s"))
    elif under_journald:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    # APScheduler says "Running job ..." at every tick: our own tick line says more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def log_event(log_format: str, level: int, event: str, message: str, **fields: object) -> None:
    """One line; in JSON, with its time (UTC, ISO 8601) for whatever ships it beyond journald."""
    if log_format == "json":
        log.log(
            level,
            json.dumps(
                {
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "level": logging.getLevelName(level).lower(),
                    "event": event,
                    "message": message,
                    **fields,
                }
            ),
        )
    else:
        log.log(level, message)


def tick_level(result: TickReport) -> int:
    """ERROR when the tick failed (the replicas unseen, or an action failed), WARNING when it had
    any other error (a source down: the policy held), else INFO."""
    if result.failed:
        return logging.ERROR
    return logging.WARNING if result.record.errors else logging.INFO


def log_tick(log_format: str, result: TickReport, seconds: float) -> None:
    record = result.record
    role = "leading" if record.leading else "standing by"
    if log_format == "json":
        fields = {
            "leading": record.leading,
            "seconds": round(seconds, 3),
            "services": {name: vars(service) for name, service in record.services.items()},
            "errors": list(record.errors),
        }
        log_event(log_format, tick_level(result), "tick", "tick", **fields)
        return
    services = " || ".join(_service_line(s) for s in record.services.values())
    errors = f" | errors: {'; '.join(record.errors)}" if record.errors else ""
    log.log(tick_level(result), f"tick ({role}, {seconds:.2f}s): {services}{errors}")


def _service_line(service: ServiceRecord) -> str:
    """The decision and its reasons; what acting on it does (also in a dry run); acted or not."""
    plan = f" | plan: {'; '.join(service.plan)}" if service.plan else ""
    acting = f" | acting: {service.in_progress}" if service.in_progress else ""
    return service.explanation + plan + (" [acted]" if service.acted else "") + acting


TICK_SECONDS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
"""A quiet tick takes milliseconds; one that scales waits for readiness and drains: minutes."""


ERROR_SOURCES = ("redis", "nginx", "docker", "tick")
DIRECTIONS = ("up", "down")


class _Series:
    """The gauge series set at the last tick. One not set again at the next is removed: what
    could not be read is missing from the scrape, never its last value, never 0."""

    def __init__(self) -> None:
        self._now: set[tuple[Gauge, tuple[str, ...]]] = set()
        self._before: set[tuple[Gauge, tuple[str, ...]]] = set()

    def set(self, gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
        gauge.labels(*labels).set(value)
        self._now.add((gauge, labels))

    def sweep(self) -> None:
        for gauge, labels in self._before - self._now:
            gauge.remove(*labels)
        self._before, self._now = self._now, set()


class Metrics:
    """The daemon's Prometheus metrics, in a registry of its own. Names follow Prometheus's
    conventions: the unit last (`_seconds`, `_per_second`, `_jobs`), counters in `_total`."""

    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Info("compose_flowise_build", "The compose-flowise that runs", registry=r).info(
            {"version": version}
        )
        self.replicas = Gauge(
            "compose_flowise_replicas",
            "Replicas by service and kind (current, ready, desired); absent while Docker does "
            "not answer",
            ["service", "kind"],
            registry=r,
        )
        self.source_up = Gauge(
            "compose_flowise_source_up",
            "1 when the source (redis, nginx, docker) answered at the last tick, else 0",
            ["source"],
            registry=r,
        )
        self._figures: dict[str, Gauge] = {}
        self.scale_events = Counter(
            "compose_flowise_scale_events",
            "Scale changes applied",
            ["service", "direction"],
            registry=r,
        )
        self.errors = Counter(
            "compose_flowise_errors",
            "Failures by source (redis, nginx, docker, tick), each failed source once per tick",
            ["source"],
            registry=r,
        )
        for source in ERROR_SOURCES:  # at 0 from the start, so that rate() sees the first one
            self.errors.labels(source)
        self.deaf_mains = Counter(
            "compose_flowise_deaf_mains",
            "Mains found healthy but answering no request, by what was done (restarted, failed)",
            ["service", "outcome"],
            registry=r,
        )
        self.jobs_stalled = Counter(
            "compose_flowise_jobs_stalled",
            "Jobs a worker lost before they finished (it died or was stopped), which BullMQ "
            "ran again or failed, by queue signal",
            ["signal"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            "compose_flowise_tick_duration_seconds",
            "Duration of one tick",
            buckets=TICK_SECONDS_BUCKETS,
            registry=r,
        )
        self.last_success = Gauge(
            "compose_flowise_last_successful_tick_timestamp_seconds",
            "When the last successful tick (Docker answered, no action failed) began, in unix "
            "seconds",
            registry=r,
        )
        self.leading = Gauge(
            "compose_flowise_leading", "1 while this daemon holds the lease", registry=r
        )
        self.override_active = Gauge(
            "compose_flowise_override_active",
            "1 while a manual override pins the count",
            ["service"],
            registry=r,
        )
        self.override = Gauge(
            "compose_flowise_override_replicas",
            "The count pinned by the manual override in force",
            ["service"],
            registry=r,
        )
        self.override_until = Gauge(
            "compose_flowise_override_expiry_timestamp_seconds",
            "When the override in force ends, in unix seconds (0: never)",
            ["service"],
            registry=r,
        )
        self._series = _Series()

    def serve(self, address: str, port: int) -> WSGIServer:
        """Serve /metrics in a thread of its own; the server, to shut it down."""
        server, _thread = start_http_server(port, addr=address, registry=self.registry)
        return server

    def record(self, result: TickReport, state: State, seconds: float) -> None:
        self.tick_seconds.observe(seconds)
        self.leading.set(1 if result.record.leading else 0)
        if not result.failed:
            self.last_success.set(result.record.at)
        for source in result.failed_sources:
            self.errors.labels(source).inc()
        for source, up in result.observed.sources_up().items():
            self.source_up.labels(source).set(1 if up else 0)
        self._record_readings(result)
        for event in result.record.deaf_mains:
            outcome = "restarted" if event.action == "restarted" else "failed"
            self.deaf_mains.labels(event.service, outcome).inc()
        for service, record in result.record.services.items():
            if service in result.evaluations:  # else the replicas are unknown: no series
                self._record_replicas(service, record)
            self._record_override(service, state, result.record.at)
        self._series.sweep()

    def _record_replicas(self, service: str, record: ServiceRecord) -> None:
        for kind, value in (
            ("current", record.current),
            ("ready", record.ready),
            ("desired", record.desired),
        ):
            self._series.set(self.replicas, (service, kind), value)
        events = {
            direction: self.scale_events.labels(service, direction) for direction in DIRECTIONS
        }
        if record.acted:
            events["up" if record.desired > record.current else "down"].inc()

    def _record_readings(self, result: TickReport) -> None:
        for signal, reading in result.observed.readings.items():
            if not isinstance(reading, Reading):
                continue  # unavailable: its source reads as down, its figures as absent
            figures = reading.figures()
            for figure, described in reading.FIGURES.items():
                value = figures.get(figure)
                if value is not None:
                    self._series.set(self._figure_gauge(described), (signal,), value)
            stalled = figures.get("stalled")
            if stalled:
                self.jobs_stalled.labels(signal).inc(stalled)

    def _figure_gauge(self, figure: Figure) -> Gauge:
        """The gauge of one figure, by signal, made the first time the figure is read."""
        name = f"compose_flowise_{figure.metric}"
        if name not in self._figures:
            self._figures[name] = Gauge(
                name, figure.description, ["signal"], registry=self.registry
            )
        return self._figures[name]

    def _record_override(self, service: str, state: State, now: float) -> None:
        override = state.history(service).override
        active = override is not None and override.active(now)
        self.override_active.labels(service).set(1 if active else 0)
        if override is not None and active:
            self._series.set(self.override, (service,), override.replicas)
            self._series.set(self.override_until, (service,), override.until or 0)


def notify_systemd(message: str) -> None:
    """sd_notify: tell systemd READY=1, WATCHDOG=1 or STOPPING=1; nothing outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify_socket:
        notify_socket.connect(address)
        notify_socket.sendall(message.encode())
