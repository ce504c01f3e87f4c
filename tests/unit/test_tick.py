"""One tick with fakes at the I/O edges: who acts, what is held, what is remembered."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.main_restart import RestartPlan
from autoscaler.actuators.plan import Routing, ScalePlan, outline_scale
from autoscaler.actuators.replicas import Replica
from autoscaler.config import Settings
from autoscaler.policy import Override, Unavailable
from autoscaler.policy.deaf_mains import QueueWork
from autoscaler.runtime.autoscaler import Autoscaler
from autoscaler.runtime.main_watch import WatchOutcome
from autoscaler.runtime.observe import ListedEachTime
from autoscaler.runtime.state import Hold, StateError, StateFile
from autoscaler.signals.bullmq_reads import QueueLoad
from autoscaler.signals.nginx_stub_status import HttpLoad

NOW = 1_000_000.0
SIGNAL = "bullmq_queue:flowise-queue-prediction"


def replica(service: str, number: int) -> Replica:
    return Replica(
        f"{service}{number}",
        f"p-{service}-{number}",
        service,
        number,
        "running",
        "healthy",
        datetime(2026, 1, 1, tzinfo=UTC),
        {"net": f"10.0.0.{number}"},
    )


@dataclass
class FakeSensors:
    reading: QueueLoad | Unavailable
    sources: frozenset[str] = frozenset({"redis"})

    def read(self, now):
        return {SIGNAL: self.reading}


ROUTING = Routing("nginx", "flowise", 3000, ready_timeout_seconds=1, drain_timeout_seconds=1)


@dataclass
class FakeTransaction:
    workers: int = 1
    fail: bool = False
    scaled: list[tuple[str, int]] = field(default_factory=list)

    def snapshot(self):
        if self.fail:
            raise ActuatorError("docker container list", "Cannot connect to the Docker daemon")
        return {
            "flowise-worker": [replica("flowise-worker", n) for n in range(1, self.workers + 1)]
        }

    def reconcile(self, snapshot) -> bool:
        return False

    def outline(self, service, target, snapshot) -> ScalePlan:
        return outline_scale(service, target, snapshot, ROUTING, jobs_seen=True)

    def apply(self, plan: ScalePlan, snapshot):
        self.scaled.append((plan.service, plan.target))


@dataclass
class FakeLease:
    leading: bool = True
    holder: str = "host:1"

    deposed: bool = False
    """Lost by the time an action applies (`lost`), though held at the tick's start."""

    def hold(self, now: float) -> bool:
        return self.leading

    def lost(self, now: float) -> bool:
        return self.deposed or not self.leading


def tick(
    tmp_path: Path, reading, scaler=None, leading=True, dry_run=False
) -> tuple[Autoscaler, FakeTransaction]:
    settings = Settings.model_validate({"services": {"flowise": False, "flowise-worker": {
        "min_replicas": 1, "max_replicas": 8,
        "signals": [{"kind": "bullmq_queue", "jobs_per_second_per_replica": 1}],
        "behavior": {"scale_down": {"stabilization_window_seconds": 0}}}}})  # fmt: skip
    scaler = scaler or FakeTransaction()
    built = Autoscaler(settings, FakeSensors(reading), ListedEachTime(scaler.snapshot), scaler,
                       FakeLease(leading),
                       StateFile(tmp_path / "state.json"), lambda: NOW, lambda: 5.0, dry_run)  # fmt: skip
    return built, scaler


BUSY = QueueLoad(backlog=200, active=10, arrival_rate=4.0, completion_rate=1.0)  # 10 s jobs
IDLE = QueueLoad(backlog=0, active=0, arrival_rate=0.0, completion_rate=0.0)

ACTING = {
    "leading: scales": (True, False, [("flowise-worker", 8)]),
    "standing by: decides, does not act": (False, False, []),
    "dry run: decides, does not act": (True, True, []),
}


@pytest.mark.parametrize("leading,dry_run,scaled", ACTING.values(), ids=ACTING.keys())
def test_who_acts(tmp_path, leading, dry_run, scaled) -> None:
    run, scaler = tick(tmp_path, BUSY, leading=leading, dry_run=dry_run)
    result = run.tick()
    run.finish_actions()
    assert scaler.scaled == scaled
    assert result.evaluations["flowise-worker"].decision.replicas == 8  # max_replicas
    assert result.record.services["flowise-worker"].acted == bool(scaled)
    assert (
        result.record.services["flowise-worker"]
        .plan[0]
        .startswith("docker compose up --scale flowise-worker=8")
    ), "the plan is recorded, dry run or not"


def test_docker_unreachable_holds_and_says_why(tmp_path) -> None:
    run, scaler = tick(tmp_path, IDLE, scaler=FakeTransaction(workers=4, fail=True))
    result = run.tick()
    assert scaler.scaled == []
    assert result.failed_sources == {"docker"}
    assert "Cannot connect to the Docker daemon" in result.record.errors[0]


def test_a_missing_queue_never_scales_down(tmp_path) -> None:
    missing = Unavailable("redis: ConnectionError", "redis")
    run, scaler = tick(tmp_path, missing, FakeTransaction(workers=4))
    result = run.tick()
    assert scaler.scaled == [] and result.failed_sources == {"redis"}
    assert "no metric available: holding" in result.record.services["flowise-worker"].explanation


def test_an_override_set_during_the_tick_survives_it(tmp_path) -> None:
    run, scaler = tick(tmp_path, BUSY, FakeTransaction(workers=4))
    state_file = run.state_store
    original_apply = scaler.apply

    def pin_meanwhile(plan, snapshot):
        with state_file.locked():
            state = state_file.read()
            pinned = state.history(plan.service).with_override(Override(6, until=NOW + 60))
            state_file.write(state.with_history(plan.service, pinned))
        original_apply(plan, snapshot)

    scaler.apply = pin_meanwhile
    run.tick()
    run.finish_actions()
    saved = state_file.read()
    assert saved.history("flowise-worker").override == Override(6, until=NOW + 60)
    assert saved.last_tick is not None and saved.last_tick.at == NOW


def test_an_expired_override_is_dropped(tmp_path) -> None:
    run, _ = tick(tmp_path, IDLE)
    state = run.state_store.read()
    expired = state.history("flowise-worker").with_override(Override(3, until=NOW - 1))
    run.state_store.write(state.with_history("flowise-worker", expired))
    run.tick()
    assert run.state_store.read().history("flowise-worker").override is None


@dataclass
class FoundDeaf:
    """A watch that finds a main deaf at every check, and records each restart it runs."""

    checked: list[float] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    in_flight: list[int | None] = field(default_factory=list)
    work: list[QueueWork | None] = field(default_factory=list)

    def check(self, snapshot, now, in_flight=None, work=None) -> WatchOutcome:
        self.checked.append(now)
        self.in_flight.append(in_flight)
        self.work.append(work)
        return WatchOutcome(RestartPlan(replica("flowise", 1), "p-flowise-1 is deaf"))

    def restart(self, plan: RestartPlan) -> None:
        self.restarted.append(plan.main.name)


@pytest.mark.parametrize("leading,dry_run,scaled", ACTING.values(), ids=ACTING.keys())
def test_only_an_acting_tick_watches_for_deaf_mains(tmp_path, leading, dry_run, scaled) -> None:
    run, _ = tick(tmp_path, IDLE, leading=leading, dry_run=dry_run)
    run.main_watch = watch = FoundDeaf()  # type: ignore[assignment]
    run.tick()
    run.actions.wait()
    result = run.tick()
    assert bool(watch.checked) == bool(watch.restarted) == bool(scaled)
    assert len(result.record.deaf_mains) == int(bool(scaled))
    assert len(result.state.deaf_mains) == len(result.record.deaf_mains)


@dataclass
class WithNginx(FakeSensors):
    """The queue, and nginx's stub_status as a signal of the mains reads it."""

    in_flight: int = 0

    def read(self, now):
        return {**super().read(now), "nginx_in_flight": HttpLoad(self.in_flight, None)}


@pytest.mark.parametrize("in_flight", [0, 3])
def test_the_watch_is_told_the_requests_in_flight_the_tick_read(tmp_path, in_flight) -> None:
    """So that with none, it spares itself reading nginx's sockets."""
    run, _ = tick(tmp_path, IDLE)
    run.sensors = WithNginx(IDLE, in_flight=in_flight)  # type: ignore[assignment]
    run.main_watch = watch = FoundDeaf()  # type: ignore[assignment]
    run.tick()
    run.actions.wait()
    assert watch.in_flight == [in_flight]


def test_without_nginx_s_stub_status_the_watch_is_told_nothing(tmp_path) -> None:
    run, _ = tick(tmp_path, IDLE)
    run.main_watch = watch = FoundDeaf()  # type: ignore[assignment]
    run.tick()
    run.actions.wait()
    assert watch.in_flight == [None]


DRAINED = QueueLoad(backlog=0, active=0, arrival_rate=1.0, completion_rate=1.0)
QUEUE_WORK = {
    "jobs finished, none left": (DRAINED, QueueWork(jobs_finished=True, idle=True)),
    "jobs left": (BUSY, QueueWork(jobs_finished=True, idle=False)),
    "none finished": (IDLE, QueueWork(jobs_finished=False, idle=True)),
    "redis down": (Unavailable("redis: ConnectionError", "redis"), None),
}


@pytest.mark.parametrize("reading,told", QUEUE_WORK.values(), ids=QUEUE_WORK.keys())
def test_the_watch_is_told_what_the_queues_show(tmp_path, reading, told) -> None:
    """With no main answering, the jobs the workers finish tell a deaf main; a read missing is
    no evidence."""
    run, _ = tick(tmp_path, IDLE)
    run.sensors = FakeSensors(reading)  # type: ignore[assignment]
    run.main_watch = watch = FoundDeaf()  # type: ignore[assignment]
    run.tick()
    run.actions.wait()
    assert watch.work == [told]


def test_a_deaf_main_restart_is_recorded_by_the_tick_after_it_ended(tmp_path) -> None:
    run, _ = tick(tmp_path, IDLE)
    run.main_watch = FoundDeaf()  # type: ignore[assignment]
    assert run.tick().record.deaf_mains == (), "started: its outcome is not known yet"
    run.actions.wait()
    run.wall_clock = lambda: NOW + 5
    [event] = run.tick().record.deaf_mains
    assert (event.at, event.replica, event.action) == (NOW, "p-flowise-1", "restarted")


def test_deaf_mains_are_kept_a_day_across_ticks(tmp_path) -> None:
    run, _ = tick(tmp_path, IDLE)
    run.main_watch = FoundDeaf()  # type: ignore[assignment]
    for at in (NOW, NOW + 3600):
        run.wall_clock = lambda at=at: at
        run.tick()
        run.actions.wait()
    run.wall_clock = lambda: NOW + 23 * 3600
    assert [e.at for e in run.tick().state.deaf_mains] == [NOW, NOW + 3600]
    run.actions.wait()
    run.wall_clock = lambda: NOW + 25.5 * 3600
    assert [e.at for e in run.tick().state.deaf_mains] == [NOW + 23 * 3600]


def hold(tmp_path: Path, until: float) -> None:
    state_file = StateFile(tmp_path / "state.json")
    state_file.write(replace(state_file.read(), hold=Hold("upgrade to flowise:3.2.0", until)))


def test_a_hold_in_force_keeps_the_counts(tmp_path) -> None:
    hold(tmp_path, until=NOW + 60)
    run, scaler = tick(tmp_path, BUSY)
    result = run.tick()
    run.finish_actions()
    assert scaler.scaled == []
    assert result.record.services["flowise-worker"].acted is False
    assert result.state.hold == Hold("upgrade to flowise:3.2.0", NOW + 60), "the tick keeps it"


def test_a_hold_that_ended_is_not_honoured(tmp_path) -> None:
    hold(tmp_path, until=NOW - 1)  # its holder ended it, or died and it ran out
    run, scaler = tick(tmp_path, BUSY)
    run.tick()
    run.finish_actions()
    assert scaler.scaled == [("flowise-worker", 8)]


def test_an_action_planned_before_a_hold_is_dropped(tmp_path) -> None:
    """The tick planned, then an upgrade held the counts and took the lock: the action, once it
    has the lock, finds the replicas changed under its plan and does nothing."""
    run, scaler = tick(tmp_path, BUSY)
    state_file = StateFile(tmp_path / "state.json")
    with state_file.acting("flowise-worker"):
        result = run.tick()
        hold(tmp_path, until=NOW + 1)  # ended after the plan was made
    finished = run.finish_actions()
    assert result.record.services["flowise-worker"].acted is True
    assert scaler.scaled == []
    assert "plan dropped, held: upgrade to flowise:3.2.0" in (
        finished["flowise-worker"].error or ""
    )


def test_a_leader_deposed_before_its_action_applies_drops_it(tmp_path) -> None:
    """Leading at the tick's start, the lease lost by the time the action has the service's
    lock: a deposed leader never acts, and says why."""
    run, scaler = tick(tmp_path, BUSY)
    run.lease.deposed = True
    result = run.tick()
    finished = run.finish_actions()
    assert result.record.services["flowise-worker"].acted is True, "started, as the tick led"
    assert scaler.scaled == []
    assert "plan dropped: the lease may have passed to another daemon" in (
        finished["flowise-worker"].error or ""
    )


class Reconciled(FakeTransaction):
    def __init__(self) -> None:
        super().__init__()
        self.reconciled = 0

    def reconcile(self, snapshot) -> bool:
        self.reconciled += 1
        return False


KEEPING = {
    "leading": (True, False, None, 1),
    "standing by (Redis away longer than the lease, the leader elsewhere)": (False, False, None, 1),
    "dry run": (True, True, None, 0),
    "an upgrade holding the counts": (True, False, NOW + 60, 0),
}


@pytest.mark.parametrize("leading,dry_run,held_until,kept", KEEPING.values(), ids=KEEPING.keys())
def test_who_keeps_the_upstream(tmp_path, leading, dry_run, held_until, kept) -> None:
    """Routing to what runs is no scaling: a daemon keeps the upstream, leading or not; not in
    a dry run, nor while an upgrade holds the counts (it keeps the upstream itself)."""
    if held_until is not None:
        hold(tmp_path, until=held_until)
    scaler = Reconciled()
    run, _ = tick(tmp_path, IDLE, scaler, leading=leading, dry_run=dry_run)
    result = run.tick()
    run.finish_actions()
    assert scaler.reconciled == kept
    assert not result.record.errors


def test_a_standby_keeps_the_upstream_but_neither_watches_nor_restarts_a_main(tmp_path) -> None:
    scaler = Reconciled()
    run, _ = tick(tmp_path, IDLE, scaler, leading=False)
    run.main_watch = watch = FoundDeaf()  # type: ignore[assignment]
    run.tick()
    run.finish_actions()
    assert scaler.reconciled == 1
    assert watch.checked == watch.restarted == []


def test_no_upstream_is_kept_while_an_action_holds_the_routed_service(tmp_path) -> None:
    """A `scale` by hand, or another manager's daemon, acting on the mains: it keeps the
    upstream itself meanwhile (its victims out of it while they drain)."""
    scaler = Reconciled()
    run, _ = tick(tmp_path, IDLE, scaler, leading=False)
    with StateFile(tmp_path / "state.json").acting("flowise"):
        run.tick()
    assert scaler.reconciled == 0


class RedisAway(StateFile):
    """A state kept in Redis while Redis does not answer: neither the state nor its locks."""

    def _away(self, *_args):
        raise StateError(f"redis at {self.where}: no answer (ConnectionError)")

    read = locked = acting = acting_if_free = _away


def test_with_the_state_unreadable_the_upstream_still_follows_what_runs(tmp_path) -> None:
    """On a Swarm with Redis away: nothing is decided, the tick fails saying so, and nginx is
    routed to what runs, without the actuation lock nobody can take meanwhile."""
    scaler = Reconciled()
    run, _ = tick(tmp_path, BUSY, scaler)
    run.state_store = RedisAway(tmp_path / "redis")
    with pytest.raises(StateError, match="no answer"):
        run.tick()
    run.finish_actions()
    assert scaler.reconciled == 1
    assert scaler.scaled == []


def test_an_unreadable_state_file_routes_under_the_lock_a_scale_may_hold(tmp_path) -> None:
    scaler = Reconciled()
    run, _ = tick(tmp_path, IDLE, scaler)
    (tmp_path / "state.json").write_text("{not json")
    with pytest.raises(StateError):
        run.tick()
    assert scaler.reconciled == 1
    with StateFile(tmp_path / "state.json").acting("flowise"), pytest.raises(StateError):
        run.tick()
    assert scaler.reconciled == 1, "a `scale` by hand keeps the upstream meanwhile"


def test_with_the_state_unreadable_a_dry_run_routes_nothing(tmp_path) -> None:
    scaler = Reconciled()
    run, _ = tick(tmp_path, IDLE, scaler, dry_run=True)
    run.state_store = RedisAway(tmp_path / "redis")
    with pytest.raises(StateError):
        run.tick()
    assert scaler.reconciled == 0


def test_a_standby_sharing_the_state_leaves_the_leaders_histories_and_fresh_record(
    tmp_path,
) -> None:
    """Two daemons, one state (a Swarm's managers): a standby's history, made from a state read
    before the leader's last save, would wipe the leader's scale event and its cooldown."""
    leader, scaler = tick(tmp_path, BUSY)
    led = leader.tick()
    leader.finish_actions()
    assert scaler.scaled == [("flowise-worker", 8)]
    standby, _ = tick(tmp_path, IDLE, leading=False)
    standby.wall_clock = lambda: NOW + 1
    standby.tick()
    kept = standby.state_store.read()
    assert kept.histories == led.state.histories, "the leader's, scale event included"
    assert kept.last_tick == led.record, "the leader's fresh record"

    standby.wall_clock = lambda: NOW + 3600  # the leader gone for long: the standby's is best
    later = standby.tick()
    assert standby.state_store.read().last_tick == later.record
    assert standby.state_store.read().histories == led.state.histories
