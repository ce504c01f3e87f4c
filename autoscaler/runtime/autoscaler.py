"""One tick of the daemon: observe -> decide -> act -> record. The scheduler calls `tick`.

Talks to the outside only through the sensors, the scaling transaction, the lease and the state
file it is given; the decisions themselves come from the pure policy.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.config import Settings
from autoscaler.policy import ServiceHistory, Unavailable, remember
from autoscaler.runtime.lease import Lease
from autoscaler.runtime.main_watch import MainWatch, WatchOutcome
from autoscaler.runtime.observe import (
    Evaluation,
    Observed,
    ReplicaSource,
    Sensors,
    evaluate,
    observe,
)
from autoscaler.runtime.state import (
    ServiceRecord,
    State,
    StateFile,
    TickRecord,
    recent_deaf_mains,
)
from autoscaler.signals import Reading

_REPLICAS_UNKNOWN = ServiceRecord(0, 0, 0, "replicas unknown: holding", acted=False)


@dataclass(frozen=True)
class TickReport:
    record: TickRecord
    observed: Observed
    evaluations: dict[str, Evaluation]
    failed_sources: frozenset[str] = frozenset()
    """Each source that failed during the tick, once: redis, nginx, docker."""
    histories: dict[str, ServiceHistory] = field(default_factory=dict)
    """Each decided service's history after the tick."""
    state: State = field(default_factory=State)
    """The state the tick saved (a preview: the one it read)."""

    @property
    def failed(self) -> bool:
        """The replicas could not be seen or changed: nothing was decided, or an action failed.
        A missing metric is not a failure: the policy holds on it, as it should."""
        return "docker" in self.failed_sources


@dataclass(frozen=True)
class _ServiceOutcome:
    record: ServiceRecord
    history: ServiceHistory | None = None


@dataclass
class Autoscaler:
    settings: Settings
    sensors: Sensors
    replicas: ReplicaSource
    transaction: ScaleTransaction
    lease: Lease
    state_file: StateFile
    wall_clock: Callable[[], float]
    monotonic: Callable[[], float]
    dry_run: bool = False
    main_watch: MainWatch | None = None

    def observe(self) -> Observed:
        return observe(self.sensors, self.replicas, self.wall_clock())

    def tick(self) -> TickReport:
        now = self.wall_clock()
        leading = self.lease.hold(self.monotonic())
        acting = leading and not self.dry_run
        with self.state_file.locked():
            state = self.state_file.read()
        with self.state_file.acting() if acting else nullcontext():
            observed = observe(self.sensors, self.replicas, now)
            reconcile_error = self._reconcile(observed.snapshot) if acting else None
            watched = self._watch_mains(observed, now) if acting else WatchOutcome()
            report = self._decide(observed, state, leading, acting, reconcile_error)
        report = _with_watch(report, watched)
        return replace(report, state=self._save(report.histories, report.record, now))

    def _watch_mains(self, observed: Observed, now: float) -> WatchOutcome:
        if self.main_watch is None:
            return WatchOutcome()
        watched = self.main_watch.check(observed.snapshot, now)
        if watched.events:
            self.replicas.invalidate()
        return watched

    def preview(self, observed: Observed, state: State) -> TickRecord:
        """What a tick would decide and plan from `observed`: nothing acted, nothing saved."""
        return self._decide(observed, state, leading=False, acting=False).record

    def _decide(
        self,
        observed: Observed,
        state: State,
        leading: bool,
        acting: bool,
        reconcile_error: str | None = None,
    ) -> TickReport:
        now = observed.at
        evaluations = evaluate(self.settings.services, observed, state.histories, now)
        outcomes = {
            service: self._service_tick(
                service, evaluations.get(service), observed, state, now, acting
            )
            for service in self.settings.services
        }
        errors = observed.errors() + ([reconcile_error] if reconcile_error else [])
        errors += [f"{s}: {o.record.error}" for s, o in outcomes.items() if o.record.error]
        records = {service: outcome.record for service, outcome in outcomes.items()}
        readings = _shown_readings(observed)
        record = TickRecord(
            now, self.lease.holder, leading, records, tuple(errors), readings,
            down=observed.sources_down(),
        )  # fmt: skip
        failed = observed.failed_sources()
        if reconcile_error or any(o.record.error for o in outcomes.values()):
            failed.add("docker")
        histories = {s: o.history for s, o in outcomes.items() if o.history}
        return TickReport(record, observed, evaluations, frozenset(failed), histories, state)

    def _reconcile(self, snapshot: Snapshot | None) -> str | None:
        """The upstream made to match what really runs, before anything is decided."""
        if snapshot is None:
            return None
        try:
            self.transaction.reconcile(snapshot)
        except ActuatorError as error:
            return f"nginx upstream: {error}"
        return None

    def _service_tick(
        self,
        service: str,
        evaluation: Evaluation | None,
        observed: Observed,
        state: State,
        now: float,
        acting: bool,
    ) -> _ServiceOutcome:
        if evaluation is None or observed.snapshot is None:
            return _ServiceOutcome(_REPLICAS_UNKNOWN)
        decision = evaluation.decision
        replicas = observed.snapshot.get(service, [])
        plan: tuple[str, ...] = ()
        error = None
        acted = False
        if decision.change:
            try:
                scale_plan = self.transaction.plan(service, decision.replicas, observed.snapshot)
                plan = scale_plan.steps()
                if acting:
                    self.replicas.invalidate()
                    self.transaction.apply(scale_plan, observed.snapshot)
                    acted = True
            except ActuatorError as failure:
                error = str(failure)
        record = ServiceRecord(
            evaluation.replicas.running, evaluation.replicas.ready, decision.replicas,
            decision.explain(), acted, error, _replica_views(replicas), plan,
        )  # fmt: skip
        policy = self.settings.services[service]
        history = remember(state.history(service), decision, policy, now, acted)
        return _ServiceOutcome(record, history)

    def _save(self, histories: dict[str, ServiceHistory], record: TickRecord, now: float) -> State:
        """Write the new histories, keeping an override that `scale` set meanwhile; the state
        written."""
        with self.state_file.locked():
            state = self.state_file.read()
            for service, history in histories.items():
                override = state.history(service).override
                if override is not None and not override.active(now):
                    override = None
                state = state.with_history(service, history.with_override(override))
            deaf_mains = recent_deaf_mains((*state.deaf_mains, *record.deaf_mains), now)
            saved = replace(state, last_tick=record, deaf_mains=deaf_mains)
            self.state_file.write(saved)
        return saved


def _with_watch(report: TickReport, watched: WatchOutcome) -> TickReport:
    """The deaf mains found and handled in the tick, and why they could not be looked for."""
    errors = report.record.errors + ((watched.error,) if watched.error else ())
    record = replace(report.record, deaf_mains=watched.events, errors=errors)
    return replace(report, record=record)


def _replica_views(replicas: list[Replica]) -> tuple[tuple[str, str, str | None], ...]:
    return tuple((r.name, r.state, r.health) for r in replicas)


def _shown_readings(observed: Observed) -> dict[str, dict[str, float | None] | str]:
    shown: dict[str, dict[str, float | None] | str] = {}
    for name, reading in observed.readings.items():
        if isinstance(reading, Unavailable):
            shown[name] = reading.reason
        elif isinstance(reading, Reading):
            figures = reading.figures().items()
            shown[name] = {key: None if value is None else float(value) for key, value in figures}
    return shown
