"""The deaf-main watch with fakes at its edges: nginx's connections are scripted, a restart is
recorded. Which restart it plans, and that missing evidence plans none."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.main_restart import RestartPlan
from autoscaler.actuators.plan import Routing
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.config import DeafMainSettings
from autoscaler.policy.deaf_mains import QueueWork
from autoscaler.runtime.main_watch import MainWatch, WatchOutcome

RULES = DeafMainSettings(after_seconds=10, min_stuck_requests=1)
ROUTING = Routing("nginx", "flowise", 3000, 180, 60)
DEAF, HEALTHY = "10.0.0.1:3000", "10.0.0.2:3000"


def replica(service: str, number: int, health: str | None = "healthy") -> Replica:
    return Replica(
        f"{service}{number}", f"p-{service}-{number}", service, number, "running", health,
        datetime(2026, 1, 1, tzinfo=UTC), {"net": f"10.0.{9 if service == 'nginx' else 0}.{number}"},
    )  # fmt: skip


SNAPSHOT: Snapshot = {
    "nginx": [replica("nginx", 1)],
    "flowise": [replica("flowise", 1), replica("flowise", 2)],
}


@dataclass
class ScriptedNginx:
    """Each read: the deaf main holds one request; the healthy one answers a new one."""

    failing_reads: set[int] = field(default_factory=set)
    reads: int = 0
    asked_for: list[set[str]] = field(default_factory=list)
    on_this_node: bool = True

    def reaches(self, nginx: Replica) -> bool:
        return self.on_this_node

    def open_sockets(self, nginx: Replica, servers: Collection[str]) -> dict[str, str]:
        self.reads += 1
        self.asked_for.append(set(servers))
        if self.reads in self.failing_reads:
            raise ActuatorError("docker exec", "nginx went away")
        return {"stuck": DEAF, f"answered-{self.reads}": HEALTHY}


@dataclass
class RecordedRestarts:
    failure: str | None = None
    restarted: list[str] = field(default_factory=list)

    def apply(self, plan: RestartPlan) -> None:
        if self.failure:
            raise ActuatorError("docker restart", self.failure)
        self.restarted.append(plan.main.name)


def watch(nginx: ScriptedNginx, restarts: RecordedRestarts) -> MainWatch:
    return MainWatch(RULES, ROUTING, nginx, restarts)  # type: ignore[arg-type]


def checks(main_watch: MainWatch, seconds: range) -> list[tuple[float, RestartPlan]]:
    """(when, the restart planned) for each check that planned one."""
    found = ((now, main_watch.check(SNAPSHOT, now).restart) for now in seconds)
    return [(now, plan) for now, plan in found if plan is not None]


def test_a_deaf_main_is_planned_for_a_restart_once_with_its_reason() -> None:
    restarts = RecordedRestarts()
    [(at, plan)] = checks(watch(ScriptedNginx(), restarts), range(0, 20, 2))
    assert (at, plan.service, plan.main.name) == (10, "flowise", "p-flowise-1")
    assert plan.reason.startswith("p-flowise-1 is deaf: 1 request(s) open longer than 10 s")
    assert restarts.restarted == [], "the check only plans: the restart is an action"


def test_a_failed_read_restarts_nothing_and_says_why() -> None:
    restarts = RecordedRestarts()
    main_watch = watch(ScriptedNginx(failing_reads={6}), restarts)
    assert checks(main_watch, range(0, 10, 2)) == []
    assert "cannot read nginx's connections" in (main_watch.check(SNAPSHOT, 10).error or "")
    assert checks(main_watch, range(12, 22, 2)) == [], "the watch started over at the gap"
    assert restarts.restarted == []


def test_no_replicas_seen_restarts_nothing() -> None:
    restarts = RecordedRestarts()
    main_watch = watch(ScriptedNginx(), restarts)
    checks(main_watch, range(0, 10, 2))
    assert main_watch.check(None, 10).restart is None
    assert checks(main_watch, range(12, 20, 2)) == []
    assert restarts.restarted == []


def test_an_nginx_on_another_node_is_not_read() -> None:
    """On a Swarm, from a manager other than nginx's: its connections are out of reach."""
    nginx = ScriptedNginx(on_this_node=False)
    assert checks(watch(nginx, RecordedRestarts()), range(0, 20, 2)) == []
    assert nginx.reads == 0


def test_a_main_still_deaf_is_planned_again_on_new_evidence() -> None:
    """A restart that failed, or did not help: the evidence starts over at the plan."""
    found = checks(watch(ScriptedNginx(), RecordedRestarts()), range(0, 32, 2))
    assert [at for at, _ in found] == [10, 22]


def test_only_mains_nginx_routes_to_are_watched() -> None:
    nginx = ScriptedNginx()
    starting = replica("flowise", 3, "starting")
    snapshot = {**SNAPSHOT, "flowise": [*SNAPSHOT["flowise"], starting]}
    watch(nginx, RecordedRestarts()).check(snapshot, 0)
    assert nginx.asked_for == [{DEAF, HEALTHY}]


def test_a_single_routed_main_is_restarted_only_on_the_workers_evidence() -> None:
    """No other main to compare with: a deaf one is told by the jobs the workers finish until
    none is left (after a Redis restart every main may be deaf)."""
    alone = {**SNAPSHOT, "flowise": [replica("flowise", 1), replica("flowise", 2, "starting")]}
    silent = watch(ScriptedNginx(), RecordedRestarts())
    assert [silent.check(alone, now).restart for now in range(0, 20, 2)] == [None] * 10

    working = watch(ScriptedNginx(), RecordedRestarts())
    done = QueueWork(jobs_finished=True, idle=True)
    found = [(now, working.check(alone, now, work=done).restart) for now in range(0, 20, 2)]
    [(at, plan)] = [(now, plan) for now, plan in found if plan]
    assert (at, plan.main.name) == (10, "p-flowise-1")
    assert "while the workers finished jobs until none was left" in plan.reason


def test_nginx_is_read_a_dozen_times_per_window_not_every_tick() -> None:
    """Each read is a docker exec: the engine's time, paid every tick, for nothing more."""
    nginx = ScriptedNginx()
    two_minutes = MainWatch(
        DeafMainSettings(after_seconds=120),
        ROUTING,
        nginx,
        RecordedRestarts(),  # type: ignore[arg-type]
    )
    for now in range(0, 60, 2):
        two_minutes.check(SNAPSHOT, now)
    assert nginx.reads == 6


def test_with_nothing_in_flight_through_nginx_its_sockets_are_not_read() -> None:
    """nginx keeps no idle connection to a main: with no request in flight, it holds none, and
    a `docker exec` would read nothing."""
    nginx = ScriptedNginx()
    main_watch = watch(nginx, RecordedRestarts())
    for now in range(0, 20, 2):
        assert main_watch.check(SNAPSHOT, now, in_flight=0) == WatchOutcome()
    assert nginx.reads == 0


def test_with_requests_in_flight_a_deaf_main_is_found_as_before() -> None:
    nginx = ScriptedNginx()
    main_watch = watch(nginx, RecordedRestarts())
    found = [(now, main_watch.check(SNAPSHOT, now, in_flight=2).restart) for now in range(0, 20, 2)]
    assert [(now, plan.main.name) for now, plan in found if plan] == [(10, "p-flowise-1")]
    assert nginx.reads == 10


def test_an_idle_spell_is_a_read_of_nothing() -> None:
    """What was open before it is gone: answered, as a read would tell (not left open)."""
    nginx = ScriptedNginx()
    main_watch = watch(nginx, RecordedRestarts())
    main_watch.check(SNAPSHOT, 0, in_flight=2)
    main_watch.check(SNAPSHOT, 2, in_flight=0)
    found = [(now, main_watch.check(SNAPSHOT, now, in_flight=2).restart) for now in range(4, 14, 2)]
    assert [now for now, plan in found if plan] == [], "p-flowise-1 answered its request at 2"
