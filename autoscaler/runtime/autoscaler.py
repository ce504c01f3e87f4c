"""One tick of the daemon: observe -> decide -> start actions -> record. The scheduler calls
`tick`. A tick never waits on an action: each service's action (a scaling, a deaf main's
restart) runs on its own (`Actions`), the tick starts one only for a service with none in
progress, and records those that finished.

Talks to the outside only through the sensors, the scaling transaction, the lease and the state
file it is given; the decisions themselves come from the pure policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.main_restart import RestartPlan
from autoscaler.actuators.plan import ScalePlan
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.config import Settings
from autoscaler.policy import ServiceHistory, Unavailable, remember
from autoscaler.policy.deaf_mains import QueueWork
from autoscaler.runtime.actions import Action, Actions, Finished, Plan
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
    DeafMainEvent,
    ReplicaView,
    ServiceRecord,
    State,
    StateError,
    StateStore,
    TickRecord,
)
from autoscaler.runtime.status_report import FRESH_INTERVALS
from autoscaler.signals import Reading
from autoscaler.signals.bullmq_reads import QueueLoad
from autoscaler.signals.nginx_stub_status import HttpLoad

LEASE_LOST = (
    "the lease may have passed to another daemon (not renewed in time, or Redis names another)"
)
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
    finished: dict[str, Finished] = field(default_factory=dict)
    """The actions that ended since the previous tick, by service."""

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
    state_store: StateStore
    wall_clock: Callable[[], float]
    monotonic: Callable[[], float]
    dry_run: bool = False
    main_watch: MainWatch | None = None
    actions: Actions = field(default_factory=Actions)
    """The actions in progress: the daemon's, kept across config reloads."""

    def observe(self) -> Observed:
        return observe(self.sensors, self.replicas, self.wall_clock())

    def tick(self) -> TickReport:
        now = self.wall_clock()
        leading = self.lease.hold(self.monotonic())
        try:
            with self.state_store.locked():
                state = self.state_store.read()
        except StateError as error:
            routing_error = self._route_without_state(now)
            if routing_error is not None:
                raise StateError(f"{error}\n{routing_error}") from None
            raise
        # an upgrade changes the replicas, and keeps the upstream, meanwhile
        routing = not self.dry_run and not state.held(now)
        acting = leading and routing
        finished = self.actions.collect()
        observed = observe(self.sensors, self.replicas, now)
        reconcile_error, watched = (None, WatchOutcome())
        if routing:
            reconcile_error, watched = self._keep_upstream(observed, now, watching=acting)
        if acting:
            self._restart_deaf_main(watched.restart, observed.snapshot, now)
        report = self._decide(observed, state, leading, acting, reconcile_error, finished)
        report = _with_watch(report, watched, _deaf_main_events(finished))
        return replace(report, state=self._save(report.histories, report.record, now))

    def finish_actions(self) -> dict[str, Finished]:
        """Wait until the actions in progress end (a stop ends their waits at once); those
        that ended, by service. A deaf main's restart among them is kept in the state, as a
        tick would have kept it."""
        self.actions.wait()
        finished = self.actions.collect()
        restarted = _deaf_main_events(finished)
        if restarted:
            with self.state_store.locked():
                state = self.state_store.read()
                self.state_store.write(state.with_deaf_mains(restarted, self.wall_clock()))
        return finished

    def _keep_upstream(
        self, observed: Observed, now: float, watching: bool
    ) -> tuple[str | None, WatchOutcome]:
        """The upstream made to match what really runs, before anything is decided, and, when
        `watching` (leading), the deaf mains looked for: unless an action on the service behind
        nginx holds it (the daemon's or a `scale`), which keeps the upstream itself meanwhile
        (its victims out of it while they drain). One writer for the upstream at a time.
        Leading or not: routing to what runs is no scaling, and with Redis away longer than
        the lease, or the leader on another manager, nginx must still follow what runs."""
        routed = self.settings.nginx.upstream_service
        if observed.snapshot is None:
            return None, self._watch_mains(observed, now, watching)
        if self.actions.busy(routed):
            return None, WatchOutcome()
        with self.state_store.acting_if_free(routed) as free:
            if not free:
                return None, WatchOutcome()
            reconciled = self._reconcile(observed.snapshot)
            return reconciled, self._watch_mains(observed, now, watching)

    def _route_without_state(self, now: float) -> str | None:
        """The state cannot be read (on a Swarm, Redis away): nothing is decided, but nginx
        still follows what runs. The actuation locks live where the state does, so nobody can
        take one meanwhile (a `scale` fails): routed without it then. This daemon's own action
        on the routed service is still waited out. The upstream's error, if any."""
        if self.dry_run or self.actions.busy(self.settings.nginx.upstream_service):
            return None
        snapshot = observe(self.sensors, self.replicas, now).snapshot
        if snapshot is None:
            return None
        try:
            with self.state_store.acting_if_free(self.settings.nginx.upstream_service) as free:
                return self._reconcile(snapshot) if free else None
        except StateError:
            return self._reconcile(snapshot)

    def _watch_mains(self, observed: Observed, now: float, watching: bool) -> WatchOutcome:
        if self.main_watch is None or not watching:
            return WatchOutcome()
        return self.main_watch.check(
            observed.snapshot, now, _nginx_in_flight(observed), _queue_work(observed)
        )

    def _restart_deaf_main(
        self, plan: RestartPlan | None, snapshot: Snapshot | None, now: float
    ) -> None:
        """The deaf main's restart, an action like a scaling (it holds the service meanwhile)."""
        if plan is None or snapshot is None or self.main_watch is None:
            return
        watch = self.main_watch
        self._start(plan, lambda: watch.restart(plan), now)

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
        finished: dict[str, Finished] | None = None,
    ) -> TickReport:
        now = observed.at
        finished = finished or {}
        evaluations = evaluate(self.settings.services, observed, state.histories, now)
        outcomes = {
            service: self._service_tick(
                service, evaluations.get(service), observed, state, now, acting
            )
            for service in self.settings.services
        }
        acting_errors = [reconcile_error] if reconcile_error else []
        acting_errors += [f"{s}: {o.record.error}" for s, o in outcomes.items() if o.record.error]
        acting_errors += [f"{s}: {f.error}" for s, f in finished.items() if f.error]
        errors = tuple(observed.errors() + acting_errors)
        records = {service: outcome.record for service, outcome in outcomes.items()}
        readings = _shown_readings(observed)
        record = TickRecord(
            now, self.lease.holder, leading, records, errors, readings,
            down=observed.sources_down(),
        )  # fmt: skip
        failed = observed.failed_sources() | ({"docker"} if acting_errors else set())
        histories = {s: o.history for s, o in outcomes.items() if o.history}
        return TickReport(
            record, observed, evaluations, frozenset(failed), histories, state, finished
        )

    def _reconcile(self, snapshot: Snapshot) -> str | None:
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
        in_progress = self.actions.in_progress().get(service)
        plan: tuple[str, ...] = ()
        error = None
        acted = False
        if decision.change and not self.actions.busy(service):
            try:
                scale_plan = self.transaction.outline(service, decision.replicas, observed.snapshot)
                plan = scale_plan.steps()
                if acting:
                    self._scale(scale_plan, observed.snapshot, now)
                    acted = True
            except ActuatorError as failure:
                error = str(failure)
        record = ServiceRecord(
            evaluation.replicas.running, evaluation.replicas.ready, decision.replicas,
            decision.explain(), acted, error, _replica_views(replicas), plan,
            _describe(in_progress, now),
        )  # fmt: skip
        policy = self.settings.services[service]
        history = remember(state.history(service), decision, policy, now, acted)
        return _ServiceOutcome(record, history)

    def _scale(self, plan: ScalePlan, snapshot: Snapshot, now: float) -> None:
        self._start(plan, lambda: self.transaction.apply(plan, snapshot), now)

    def _start(self, plan: Plan, apply: Callable[[], object], now: float) -> None:
        """`apply` run in the service's own thread, holding the service's actuation lock
        (a `scale` by hand on it waits, and is waited for). Dropped when, by the time it has
        the lock, an upgrade holds the counts or this daemon may lead no more."""

        def act() -> object:
            try:
                with self.state_store.acting(plan.service):
                    hold = self.state_store.read().hold
                    if hold is not None and hold.until > now:  # came while it waited for the lock
                        raise ActuatorError(plan.service, f"plan dropped, held: {hold.reason}")
                    if self.lease.lost(self.monotonic()):
                        raise ActuatorError(plan.service, f"plan dropped: {LEASE_LOST}")
                    return apply()
            finally:
                self.replicas.invalidate()

        self.replicas.invalidate()
        self.actions.start(plan, now, act)

    def _save(self, histories: dict[str, ServiceHistory], record: TickRecord, now: float) -> State:
        """Write the new histories, keeping an override that `scale` set meanwhile; the state
        written. Only the leader's histories are written: in a state several daemons share (a
        Swarm's managers), a standby's, made from a state read before the leader's last save,
        would wipe the leader's scale events, and its cooldowns with them. Nor is a standby's
        record written over a leader's fresh one, which `status` tells."""
        with self.state_store.locked():
            state = self.state_store.read()
            if record.leading:
                for service, history in histories.items():
                    override = state.history(service).override
                    if override is not None and not override.active(now):
                        override = None
                    state = state.with_history(service, history.with_override(override))
            if record.leading or not self._led_lately(state.last_tick, now):
                state = replace(state, last_tick=record)
            saved = state.with_deaf_mains(record.deaf_mains, now)
            self.state_store.write(saved)
        return saved

    def _led_lately(self, last: TickRecord | None, now: float) -> bool:
        """`last` is a leader's, and still fresh enough for `status` to tell."""
        fresh = FRESH_INTERVALS * self.settings.daemon.interval_seconds
        return last is not None and last.leading and now - last.at <= fresh


def _with_watch(
    report: TickReport, watched: WatchOutcome, restarted: tuple[DeafMainEvent, ...]
) -> TickReport:
    """The deaf mains whose restart ended since the last tick, and why none could be looked
    for."""
    errors = report.record.errors + ((watched.error,) if watched.error else ())
    record = replace(report.record, deaf_mains=restarted, errors=errors)
    return replace(report, record=record)


def _deaf_main_events(finished: dict[str, Finished]) -> tuple[DeafMainEvent, ...]:
    """Each deaf main's restart that ended, dated when the main was found deaf."""
    events = []
    for action in finished.values():
        plan = action.plan
        if isinstance(plan, RestartPlan):
            done = "restarted" if action.error is None else f"restart failed: {action.error}"
            main = plan.main
            events.append(
                DeafMainEvent(action.started_at, main.service, main.name, plan.reason, done)
            )
    return tuple(events)


def _nginx_in_flight(observed: Observed) -> int | None:
    """The requests in flight through nginx, from its stub_status as this tick read it (for
    a signal of the config's); None when not read."""
    loads = (r for r in observed.readings.values() if isinstance(r, HttpLoad))
    return next((load.in_flight for load in loads), None)


def _queue_work(observed: Observed) -> QueueWork | None:
    """What this tick's reads of the queues show: jobs finished, jobs left; None when Redis
    could not be read, or no queue is read."""
    loads = [r for r in observed.readings.values() if isinstance(r, QueueLoad)]
    if not loads or "redis" in observed.sources_down():
        return None
    return QueueWork(
        jobs_finished=any((load.completion_rate or 0) > 0 for load in loads),
        idle=all(load.backlog == 0 and load.active == 0 for load in loads),
    )


def _describe(action: Action | None, now: float) -> str | None:
    if action is None:
        return None
    plan = action.plan
    steps = "; ".join(plan.steps())
    return f"{plan.summary} for {now - action.started_at:.0f}s: {steps}"


def _replica_views(replicas: list[Replica]) -> tuple[ReplicaView, ...]:
    return tuple((r.name, r.state, r.health, r.node) for r in replicas)


def _shown_readings(observed: Observed) -> dict[str, dict[str, float | None] | str]:
    shown: dict[str, dict[str, float | None] | str] = {}
    for name, reading in observed.readings.items():
        if isinstance(reading, Unavailable):
            shown[name] = reading.reason
        elif isinstance(reading, Reading):
            figures = reading.figures().items()
            shown[name] = {key: None if value is None else float(value) for key, value in figures}
    return shown
