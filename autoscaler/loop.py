"""One tick of the daemon: observe -> decide -> act -> record. The scheduler calls it.

Talks to the outside only through the sources, the scaler, the lease and the state file it
is given; the decisions themselves come from the pure policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.scaling import Scaler, Snapshot
from autoscaler.config import Settings
from autoscaler.lease import Lease
from autoscaler.metrics import Unavailable
from autoscaler.policy import Decision, Observation, ServiceHistory, decide, remember
from autoscaler.policy.model import Reading
from autoscaler.policy.parameters import QueueSignal, ServicePolicy
from autoscaler.sources.bullmq import BullMQQueue
from autoscaler.sources.stub_status import NginxStubStatus
from autoscaler.state import ServiceRecord, State, StateFile, TickRecord


@dataclass
class Sources:
    """Every metric source the configured signals need, each read once per tick."""

    queues: dict[str, BullMQQueue]
    """Queue name -> its source."""
    nginx: NginxStubStatus

    def read(self, now: float, services: Mapping[str, ServicePolicy]) -> dict[str, Reading]:
        """Signal name -> reading, for every signal of every service."""
        readings: dict[str, Reading] = {}
        http = self.nginx.load(now) if _uses_nginx(services) else None
        for policy in services.values():
            for signal in policy.signals:
                if isinstance(signal, QueueSignal):
                    if signal.name not in readings:
                        readings[signal.name] = self.queues[signal.queue].load(now)
                elif http is not None:
                    readings[signal.name] = http
        return readings


def _uses_nginx(services: Mapping[str, ServicePolicy]) -> bool:
    return any(
        not isinstance(signal, QueueSignal) for p in services.values() for signal in p.signals
    )


@dataclass(frozen=True)
class TickResult:
    record: TickRecord
    readings: dict[str, Reading]
    decisions: dict[str, Decision] = field(default_factory=dict)
    failures: tuple[str, ...] = ()
    """The source of each failure: redis, nginx or docker."""


@dataclass(frozen=True)
class _ServiceTick:
    record: ServiceRecord
    decision: Decision | None = None
    history: ServiceHistory | None = None


@dataclass
class Tick:
    settings: Settings
    sources: Sources
    scaler: Scaler
    lease: Lease
    state_file: StateFile
    wall_clock: Callable[[], float]
    monotonic: Callable[[], float]
    dry_run: bool = False

    def __call__(self) -> TickResult:
        now = self.wall_clock()
        leading = self.lease.hold(self.monotonic())
        acting = leading and not self.dry_run
        readings = self.sources.read(now, self.settings.services)
        missing = {name: r.reason for name, r in readings.items() if isinstance(r, Unavailable)}
        with self.state_file.locked():
            state = self.state_file.read()
        with self.state_file.acting() if acting else nullcontext():
            snapshot, docker_error = self._observe_replicas(acting)
            ticks = {
                service: self._service_tick(service, policy, snapshot, readings, state, now, acting)
                for service, policy in self.settings.services.items()
            }
        errors = [f"{name}: {reason}" for name, reason in missing.items()]
        errors += [docker_error] if docker_error else []
        errors += [f"{s}: {t.record.error}" for s, t in ticks.items() if t.record.error]
        records = {service: t.record for service, t in ticks.items()}
        record = TickRecord(now, self.lease.holder, leading, records, tuple(errors))
        self._save({s: t.history for s, t in ticks.items() if t.history}, record, now)
        failures = [_source_of(name) for name in missing]
        failures += ["docker"] * (bool(docker_error) + sum(bool(t.record.error) for t in ticks.values()))
        decisions = {s: t.decision for s, t in ticks.items() if t.decision}
        return TickResult(record, readings, decisions, tuple(failures))

    def _observe_replicas(self, acting: bool) -> tuple[Snapshot | None, str | None]:
        """The replicas now, with the upstream reconciled to them first when we act."""
        try:
            snapshot = self.scaler.snapshot()
            if acting:
                self.scaler.reconcile(snapshot)
            return snapshot, None
        except ActuatorError as error:
            return None, f"docker: {error}"

    def _service_tick(
        self,
        service: str,
        policy: ServicePolicy,
        snapshot: Snapshot | None,
        readings: dict[str, Reading],
        state: State,
        now: float,
        acting: bool,
    ) -> _ServiceTick:
        if snapshot is None:
            return _ServiceTick(ServiceRecord(0, 0, 0, "replicas unknown: holding", acted=False))
        replicas = snapshot.get(service, [])
        current = sum(r.state == "running" for r in replicas)
        ready = sum(r.routable for r in replicas)
        history = state.history(service)
        decision = decide(service, policy, Observation(current, ready, readings), history, now)
        error = None
        acted = False
        if decision.change and acting:
            try:
                self.scaler.scale(service, decision.replicas, snapshot)
                acted = True
            except ActuatorError as failure:
                error = str(failure)
        record = ServiceRecord(current, ready, decision.replicas, decision.explain(), acted, error)
        return _ServiceTick(record, decision, remember(history, decision, policy, now, acted))

    def _save(self, histories: dict[str, ServiceHistory], record: TickRecord, now: float) -> None:
        """Write the new histories, keeping an override that `scale` set meanwhile."""
        with self.state_file.locked():
            state = self.state_file.read()
            for service, history in histories.items():
                override = state.history(service).override
                if override is not None and not override.active(now):
                    override = None
                state = state.with_history(service, history.with_override(override))
            self.state_file.write(replace(state, last_tick=record))


def _source_of(signal_name: str) -> str:
    return "redis" if signal_name.startswith("bullmq_queue") else "nginx"
