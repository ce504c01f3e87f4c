"""What the daemon tells the outside: one log line per tick, Prometheus metrics on 127.0.0.1,
and systemd's notify protocol (READY, WATCHDOG, STOPPING)."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from autoscaler.runtime.autoscaler import TickReport
from autoscaler.runtime.state import ServiceRecord, State

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
    if log_format == "json":
        log.log(
            level,
            json.dumps(
                {
                    "level": logging.getLevelName(level).lower(),
                    "event": event,
                    "message": message,
                    **fields,
                }
            ),
        )
    else:
        log.log(level, message)


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
        log_event(log_format, logging.INFO, "tick", "tick", **fields)
        return
    services = " || ".join(_service_line(s) for s in record.services.values())
    errors = f" | errors: {'; '.join(record.errors)}" if record.errors else ""
    level = logging.WARNING if record.errors else logging.INFO
    log.log(level, f"tick ({role}, {seconds:.2f}s): {services}{errors}")


def _service_line(service: ServiceRecord) -> str:
    """The decision and its reasons; what acting on it does (also in a dry run); acted or not."""
    plan = f" | plan: {'; '.join(service.plan)}" if service.plan else ""
    acting = f" | acting: {service.in_progress}" if service.in_progress else ""
    return service.explanation + plan + (" [acted]" if service.acted else "") + acting


class Metrics:
    """The daemon's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.replicas = Gauge(
            "compose_flowise_replicas",
            "Replicas by service and kind (current, ready, desired)",
            ["service", "kind"],
            registry=r,
        )
        self.signal = Gauge(
            "compose_flowise_signal",
            "What each signal read, by figure (e.g. backlog, arrival_rate, in_flight)",
            ["signal", "figure"],
            registry=r,
        )
        self.scale_events = Counter(
            "compose_flowise_scale_events",
            "Scale changes applied",
            ["service", "direction"],
            registry=r,
        )
        self.errors = Counter(
            "compose_flowise_errors",
            "Failures by source (redis, nginx, docker, tick)",
            ["source"],
            registry=r,
        )
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
            "compose_flowise_tick_seconds", "Duration of one tick", registry=r
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
            "The count pinned by the last manual override",
            ["service"],
            registry=r,
        )
        self.override_until = Gauge(
            "compose_flowise_override_expiry_timestamp_seconds",
            "When the override ends (0: never)",
            ["service"],
            registry=r,
        )

    def serve(self, port: int) -> None:
        start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def record(self, result: TickReport, state: State, seconds: float) -> None:
        self.tick_seconds.observe(seconds)
        self.leading.set(1 if result.record.leading else 0)
        for source in result.failed_sources:
            self.errors.labels(source).inc()
        self._record_readings(result)
        for event in result.record.deaf_mains:
            outcome = "restarted" if event.action == "restarted" else "failed"
            self.deaf_mains.labels(event.service, outcome).inc()
        for service, record in result.record.services.items():
            for kind, value in (
                ("current", record.current),
                ("ready", record.ready),
                ("desired", record.desired),
            ):
                self.replicas.labels(service, kind).set(value)
            if record.acted:
                direction = "up" if record.desired > record.current else "down"
                self.scale_events.labels(service, direction).inc()
            self._record_override(service, state, result.record.at)

    def _record_readings(self, result: TickReport) -> None:
        for signal, shown in result.record.readings.items():
            if isinstance(shown, str):
                continue  # unavailable: the error count says so
            for figure, value in shown.items():
                if value is not None:
                    self.signal.labels(signal, figure).set(value)
            if shown.get("stalled"):
                self.jobs_stalled.labels(signal).inc(shown["stalled"] or 0)

    def _record_override(self, service: str, state: State, now: float) -> None:
        override = state.history(service).override
        active = override is not None and override.active(now)
        self.override_active.labels(service).set(1 if active else 0)
        if override is not None and active:
            self.override.labels(service).set(override.replicas)
            self.override_until.labels(service).set(override.until or 0)


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
