"""The scaling transaction's order of steps, with a fake engine at the I/O edge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.plan import Routing
from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.actuators.upstream import NginxUpstream
from autoscaler.errors import Interrupted

START = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
NET = "p_default"


def container(
    service: str, number: int, health: str | None = "healthy", state: str = "running"
) -> Replica:
    return Replica(
        id=f"{service}-{number}", name=f"p-{service}-{number}", service=service, number=number,
        state=state, health=health, started_at=START + timedelta(minutes=number),
        addresses={NET: f"172.18.{0 if service == 'nginx' else 1}.{number}"},
    )  # fmt: skip


def tcp_line(server_ip_last_octet: int) -> str:
    remote = f"{server_ip_last_octet:02X}0112AC:0BB8"
    return f"   1: 020012AC:A1B2 {remote} 01 0:0 00:0 0 101 0 2 1"


class FakeEngine:
    """Replicas in memory; records every action; nginx's connections are scripted."""

    picks_what_stops = False

    def __init__(self, flowise: int, connections: list[list[int]] | None = None) -> None:
        self.containers = [container("nginx", 1)] + [
            container("flowise", n) for n in range(1, flowise + 1)
        ]
        self.actions: list[str] = []
        self.connections = connections or []
        self.fail_on: str | None = None
        self.answers_after: dict[str, int] = {}
        """Replica name -> how many of its healthcheck's tests run by hand fail first."""
        self.elsewhere: set[str] = set()
        """Replica names out of this engine's reach (on another Swarm node)."""

    def replicas(self) -> dict[str, list[Replica]]:
        found: dict[str, list[Replica]] = {}
        for replica in self.containers:
            found.setdefault(replica.service, []).append(replica)
        return found

    def scale_to(self, service: str, count: int) -> None:
        """As the Compose backend: warm replicas unpaused first, then new ones started."""
        self._act(f"scale_to {service} {count}")
        mine = [r for r in self.containers if r.service == service]
        running = sum(r.state == "running" for r in mine)
        woken = [r for r in mine if r.state == "paused"][: max(0, count - running)]
        if woken:
            self._act("unpause " + " ".join(r.name for r in woken))
        self.containers = [replace(r, state="running") if r in woken else r
                           for r in self.containers]  # fmt: skip
        for number in range(len(mine) + 1, len(mine) + 1 + count - running - len(woken)):
            self.containers.append(container(service, 10 + number))

    def probe(self, replica: Replica) -> None:
        """As the Compose backend: the replica counts healthy once it answered."""
        self._act(f"probe {replica.name}")
        failures = self.answers_after.get(replica.name)
        if failures is None:
            return
        if failures:
            self.answers_after[replica.name] = failures - 1
            return
        self.containers = [replace(r, health="healthy") if r.id == replica.id else r
                           for r in self.containers]  # fmt: skip

    def remove(self, replicas) -> None:
        self._act("remove " + " ".join(r.name for r in replicas))
        gone = {r.id for r in replicas}
        self.containers = [r for r in self.containers if r.id not in gone]

    def reaches(self, replica: Replica) -> bool:
        return replica.name not in self.elsewhere

    def execute(self, replica: Replica, command) -> str:
        assert self.reaches(replica), f"{replica.name} is out of reach"
        if command[0] == "cat":
            open_to = self.connections.pop(0) if self.connections else []
            return "header\n" + "\n".join(tcp_line(octet) for octet in open_to)
        self._act(" ".join(command))
        return ""

    def _act(self, action: str) -> None:
        self.actions.append(action)
        if self.fail_on and action.startswith(self.fail_on):
            raise ActuatorError(action, "Error response from daemon: boom")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def scaler_for(
    engine: FakeEngine, tmp_path: Path, clock: Clock, pause: Callable[[float], None] | None = None
) -> tuple[ScaleTransaction, Path]:
    path = tmp_path / "flowise.conf"
    routing = Routing("nginx", "flowise", 3000, ready_timeout_seconds=10, drain_timeout_seconds=5)
    upstream = NginxUpstream(engine, path)
    scaler = ScaleTransaction(engine, upstream, routing, lambda: clock.now, pause or clock.sleep)
    scaler.reconcile(scaler.snapshot())
    engine.actions.clear()
    return scaler, path


def servers(path: Path) -> list[str]:
    return [line.split()[1] for line in path.read_text().splitlines() if "max_fails" in line]


def test_scale_in_takes_victims_out_of_nginx_drains_then_removes_them(tmp_path) -> None:
    # 1 is the busiest, 2 idle, 3 has one request in flight that ends after two polls
    engine = FakeEngine(3, connections=[[1, 1, 3], [3], [3], []])
    clock = Clock()
    scaler, path = scaler_for(engine, tmp_path, clock)
    outcome = scaler.scale("flowise", 1, scaler.snapshot())
    assert outcome.removed == ("p-flowise-2", "p-flowise-3")
    assert outcome.undrained == 0
    assert engine.actions == [
        "nginx -t",
        "nginx -s reload",
        "remove p-flowise-2 p-flowise-3",
        "scale_to flowise 1",
    ]
    assert servers(path) == ["172.18.1.1:3000"]
    assert clock.now >= 1.0, "the drain waited for the in-flight requests"


class SwarmLikeEngine(FakeEngine):
    """A scale-in stops the replicas this engine picks: the oldest."""

    picks_what_stops = True

    def scale_to(self, service: str, count: int) -> None:
        mine = [r for r in self.containers if r.service == service]
        if count >= len(mine):
            return super().scale_to(service, count)
        self._act(f"scale_to {service} {count}")
        stopped = {r.id for r in mine[: len(mine) - count]}
        self.containers = [r for r in self.containers if r.id not in stopped]


def test_on_a_backend_that_picks_what_stops_the_upstream_follows_what_it_stopped(
    tmp_path,
) -> None:
    engine = SwarmLikeEngine(3, connections=[[1, 1], [1, 1]])
    scaler, path = scaler_for(engine, tmp_path, Clock())
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert outcome.removed == ("p-flowise-1",), "the engine picked it, busy as it was"
    assert engine.actions == ["scale_to flowise 2", "nginx -t", "nginx -s reload"], "no drain"
    assert servers(path) == ["172.18.1.2:3000", "172.18.1.3:3000"]


def test_an_nginx_on_another_node_is_left_to_the_daemon_there(tmp_path) -> None:
    """A Swarm manager's engine reaches only its own node's containers: a daemon leading from
    another manager scales, and the daemon on nginx's node keeps the upstream."""
    engine = SwarmLikeEngine(3)
    scaler, path = scaler_for(engine, tmp_path, Clock())
    engine.elsewhere = {"p-nginx-1"}
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert outcome.removed == ("p-flowise-1",)
    assert engine.actions == ["scale_to flowise 2"], "no nginx -t, no reload"
    assert scaler.reconcile(scaler.snapshot()) is False
    assert len(servers(path)) == 3, "the file this daemon keeps is not nginx's"


def test_a_drain_that_times_out_reports_what_was_left(tmp_path) -> None:
    engine = FakeEngine(2, connections=[[1, 2]] + [[2]] * 100)
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    outcome = scaler.scale("flowise", 1, scaler.snapshot())
    assert (outcome.removed, outcome.undrained) == (("p-flowise-2",), 1)


def test_scale_out_routes_to_new_replicas_once_fit(tmp_path) -> None:
    engine = FakeEngine(1)
    scaler, path = scaler_for(engine, tmp_path, Clock())
    outcome = scaler.scale("flowise", 3, scaler.snapshot())
    assert (outcome.before, outcome.after, len(outcome.added)) == (1, 3, 2)
    assert engine.actions == ["scale_to flowise 3", "nginx -t", "nginx -s reload"]
    assert len(servers(path)) == 3


def test_scale_out_gives_up_waiting_and_names_the_unfit(tmp_path) -> None:
    engine = FakeEngine(1)
    clock = Clock()
    scaler, path = scaler_for(engine, tmp_path, clock)
    original = engine.scale_to

    def add_starting(service: str, count: int) -> None:
        original(service, count)
        engine.containers[-1] = replace(engine.containers[-1], health="starting")

    engine.scale_to = add_starting
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert outcome.not_ready == ("p-flowise-12",)
    assert len(servers(path)) == 1
    assert clock.now >= 10


def test_a_service_nginx_does_not_route_to_is_scaled_in_without_drain(tmp_path) -> None:
    engine = FakeEngine(1)
    engine.containers += [container("flowise-worker", n) for n in (1, 2, 3)]
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    outcome = scaler.scale("flowise-worker", 1, scaler.snapshot())
    assert outcome.removed == ("p-flowise-worker-3", "p-flowise-worker-2")
    assert engine.actions == [
        "remove p-flowise-worker-3 p-flowise-worker-2",
        "scale_to flowise-worker 1",
    ]


def test_after_a_failed_removal_the_upstream_lists_what_really_runs(tmp_path) -> None:
    engine = FakeEngine(2, connections=[[], []])
    scaler, path = scaler_for(engine, tmp_path, Clock())
    engine.fail_on = "remove"
    with pytest.raises(ActuatorError, match="boom"):
        scaler.scale("flowise", 1, scaler.snapshot())
    assert len(servers(path)) == 2, "both replicas still run, so both are routed to again"


def test_no_running_nginx_is_an_actuator_error(tmp_path) -> None:
    engine = FakeEngine(1)
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    engine.containers = [r for r in engine.containers if r.service != "nginx"]
    with pytest.raises(ActuatorError, match="no running container of the service 'nginx'"):
        scaler.reconcile(scaler.snapshot())


def test_the_plan_says_what_will_be_done_and_does_none_of_it(tmp_path) -> None:
    engine = FakeEngine(3, connections=[[1, 1, 3]])
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    plan = scaler.plan("flowise", 1, scaler.snapshot())
    assert [r.name for r in plan.victims] == ["p-flowise-2", "p-flowise-3"]
    assert plan.steps() == (
        "take p-flowise-2, p-flowise-3 out of the nginx upstream (nginx -t, reload)",
        "wait up to 5s until nginx has no request in flight to them",
        "stop and remove p-flowise-2, p-flowise-3",
    )
    assert engine.actions == [], "planning only reads"


def test_a_stop_during_the_drain_ends_it_at_once_and_routes_the_victims_again(tmp_path) -> None:
    def stop_requested(seconds: float) -> None:
        raise Interrupted("stopping")

    engine = FakeEngine(2, connections=[[1, 2]] + [[2]] * 100)
    scaler, path = scaler_for(engine, tmp_path, Clock(), pause=stop_requested)
    with pytest.raises(Interrupted):
        scaler.scale("flowise", 1, scaler.snapshot())
    assert not any(action.startswith("remove") for action in engine.actions)
    assert len(servers(path)) == 2, "the victim still runs, so it is routed to again"


class Jobs:
    """The jobs each worker runs, as BullMQ's locks tell: scripted per look, the last one kept."""

    def __init__(self, *looks: dict[str, int]) -> None:
        self.looks = list(looks)
        self.asked: list[tuple[str, ...]] = []

    def __call__(self, service: str, replicas) -> dict[str, int]:
        self.asked.append(tuple(r.id for r in replicas))
        look = self.looks.pop(0) if len(self.looks) > 1 else self.looks[0]
        return {r.id: look[r.id] for r in replicas if r.id in look}

    def sees(self, service: str) -> bool:
        return service == "flowise-worker"


def worker_scaler(
    tmp_path: Path, jobs: Jobs, clock: Clock, workers: int = 3
) -> tuple[ScaleTransaction, FakeEngine]:
    engine = FakeEngine(1)
    engine.containers += [
        container("flowise-worker", n, health=None) for n in range(1, workers + 1)
    ]
    routing = Routing("nginx", "flowise", 3000, ready_timeout_seconds=10, drain_timeout_seconds=5)
    upstream = NginxUpstream(engine, tmp_path / "flowise.conf")
    scaler = ScaleTransaction(engine, upstream, routing, lambda: clock.now, clock.sleep, jobs)
    return scaler, engine


def test_a_worker_scale_in_picks_the_idle_worker_over_the_newest(tmp_path) -> None:
    jobs = Jobs({"flowise-worker-1": 4, "flowise-worker-2": 0, "flowise-worker-3": 1})
    scaler, _ = worker_scaler(tmp_path, jobs, Clock())
    plan = scaler.plan("flowise-worker", 2, scaler.snapshot())
    assert [r.name for r in plan.victims] == ["p-flowise-worker-2"]
    assert plan.steps()[0] == (
        "wait up to 5s until p-flowise-worker-2 run no job (their BullMQ job locks)"
    )


def test_an_outline_reads_nothing_and_its_victims_are_chosen_as_it_is_applied(tmp_path):
    """The tick's plan: no worker's jobs looked at; applying it chooses the idle worker."""
    jobs = Jobs({"flowise-worker-1": 4, "flowise-worker-2": 0, "flowise-worker-3": 1})
    scaler, engine = worker_scaler(tmp_path, jobs, Clock())
    outline = scaler.outline("flowise-worker", 2, scaler.snapshot())
    assert jobs.asked == [] and outline.victims == () and outline.finishes_jobs
    assert outline.steps() == (
        "choose the least busy of p-flowise-worker-1, p-flowise-worker-2, p-flowise-worker-3 "
        "as the action starts (the jobs each runs)",
        "wait up to 5s until the victim run no job (their BullMQ job locks)",
        "stop and remove the victim",
    )
    outcome = scaler.apply(outline, scaler.snapshot())
    assert outcome.removed == ("p-flowise-worker-2",)
    assert engine.actions == ["remove p-flowise-worker-2", "scale_to flowise-worker 2"]


def test_a_main_outline_reads_no_socket_and_its_scale_out_is_the_plan_itself(tmp_path):
    engine = FakeEngine(3, connections=[[1, 1, 3], [], []])
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    outline = scaler.outline("flowise", 1, scaler.snapshot())
    assert engine.connections == [[1, 1, 3], [], []], "nginx's sockets not read"
    assert outline.steps()[:3] == (
        "choose the 2 least busy of p-flowise-1, p-flowise-2, p-flowise-3 as the action starts "
        "(nginx's requests in flight to each)",
        "take the victims out of the nginx upstream (nginx -t, reload)",
        "wait up to 5s until nginx has no request in flight to them",
    )
    assert scaler.apply(outline, scaler.snapshot()).removed == ("p-flowise-2", "p-flowise-3")
    out = scaler.outline("flowise", 3, scaler.snapshot())
    assert out == scaler.plan("flowise", 3, scaler.snapshot())


def test_a_worker_victim_finishes_its_jobs_before_it_stops(tmp_path) -> None:
    busy = {"flowise-worker-1": 2, "flowise-worker-2": 3, "flowise-worker-3": 1}
    jobs = Jobs(busy, busy, {**busy, "flowise-worker-3": 0})  # plan, one look busy, then done
    clock = Clock()
    scaler, engine = worker_scaler(tmp_path, jobs, clock)
    outcome = scaler.scale("flowise-worker", 2, scaler.snapshot())
    assert outcome.removed == ("p-flowise-worker-3",) and outcome.unfinished == 0
    assert jobs.asked[1:] == [("flowise-worker-3",)] * 2, "the victim's jobs, looked at until none"
    assert engine.actions == ["remove p-flowise-worker-3", "scale_to flowise-worker 2"]
    assert clock.now > 0, "it waited"


def test_a_worker_victim_still_busy_at_the_timeout_stops_and_says_so(tmp_path) -> None:
    jobs = Jobs({"flowise-worker-1": 2, "flowise-worker-2": 3, "flowise-worker-3": 1})
    clock = Clock()
    scaler, engine = worker_scaler(tmp_path, jobs, clock)
    outcome = scaler.scale("flowise-worker", 2, scaler.snapshot())
    assert outcome.unfinished == 1 and clock.now >= 5
    assert engine.actions == ["remove p-flowise-worker-3", "scale_to flowise-worker 2"]


def test_workers_whose_jobs_are_not_seen_stop_at_once(tmp_path) -> None:
    clock = Clock()
    scaler, _ = worker_scaler(tmp_path, lambda service, replicas: None, clock)
    plan = scaler.plan("flowise-worker", 2, scaler.snapshot())
    assert not plan.finishes_jobs and plan.steps() == ("stop and remove p-flowise-worker-3",)
    scaler.apply(plan, scaler.snapshot())
    assert clock.now == 0


def test_a_scale_out_unpauses_warm_replicas_first_and_starts_only_the_rest(tmp_path) -> None:
    engine = FakeEngine(1)
    engine.containers += [container("flowise", n, state="paused") for n in (2, 3)]
    scaler, path = scaler_for(engine, tmp_path, Clock())
    plan = scaler.plan("flowise", 5, scaler.snapshot())
    assert [r.name for r in plan.woken] == ["p-flowise-2", "p-flowise-3"]
    assert plan.steps()[:2] == (
        "unpause warm replica p-flowise-2, p-flowise-3",
        "docker compose up --scale flowise=5 (adds 2)",
    )
    outcome = scaler.apply(plan, scaler.snapshot())
    assert engine.actions[:2] == ["scale_to flowise 5", "unpause p-flowise-2 p-flowise-3"]
    assert (outcome.after, sorted(outcome.added)) == (
        5, ["p-flowise-14", "p-flowise-15", "p-flowise-2", "p-flowise-3"],
    )  # fmt: skip
    assert len(servers(path)) == 5


def woken_main() -> Replica:
    """A paused main, which Docker reports unhealthy; its healthcheck pings it."""
    paused = container("flowise", 2, health="unhealthy", state="paused")
    return replace(paused, probe=("curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping"))


def test_a_woken_main_is_probed_at_once_and_routed_as_soon_as_it_answers(tmp_path) -> None:
    """Docker reports a woken replica unhealthy (it was paused) until its next probe, an
    interval later: the scale-out runs the healthcheck by hand instead, at once and each poll."""
    engine = FakeEngine(1)
    engine.containers.append(woken_main())
    engine.answers_after = {"p-flowise-2": 0}
    clock = Clock()
    scaler, path = scaler_for(engine, tmp_path, clock)
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert engine.actions == ["scale_to flowise 2", "unpause p-flowise-2", "probe p-flowise-2",
                              "nginx -t", "nginx -s reload"]  # fmt: skip
    assert (outcome.added, outcome.not_ready, clock.now) == (("p-flowise-2",), (), 0)
    assert len(servers(path)) == 2


def test_a_main_that_does_not_answer_yet_is_probed_each_poll_and_routed_only_then(tmp_path):
    engine = FakeEngine(1)
    engine.containers.append(woken_main())
    engine.answers_after = {"p-flowise-2": 2}
    clock = Clock()
    scaler, path = scaler_for(engine, tmp_path, clock)
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert engine.actions.count("probe p-flowise-2") == 3
    assert engine.actions[-2:] == ["nginx -t", "nginx -s reload"]
    assert outcome.not_ready == () and 0 < clock.now < 10
    assert len(servers(path)) == 2


def test_a_new_main_is_routed_at_its_first_answer_not_at_the_engine_s_next_probe(tmp_path):
    engine = FakeEngine(1)
    clock = Clock()
    scaler, path = scaler_for(engine, tmp_path, clock)
    original = engine.scale_to

    def add_starting(service: str, count: int) -> None:
        original(service, count)
        probe = ("curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping")
        engine.containers[-1] = replace(engine.containers[-1], health="starting", probe=probe)

    engine.scale_to = add_starting
    engine.answers_after = {"p-flowise-12": 1}
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert engine.actions.count("probe p-flowise-12") == 2
    assert outcome.not_ready == () and len(servers(path)) == 2


def test_a_main_that_never_answers_is_never_routed(tmp_path) -> None:
    engine = FakeEngine(1)
    engine.containers.append(woken_main())
    scaler, path = scaler_for(engine, tmp_path, Clock())
    outcome = scaler.scale("flowise", 2, scaler.snapshot())
    assert outcome.not_ready == ("p-flowise-2",)
    assert len(servers(path)) == 1


def test_a_warm_pool_large_enough_needs_no_start(tmp_path) -> None:
    engine = FakeEngine(1)
    engine.containers += [container("flowise-worker", n, state="paused") for n in (1, 2)]
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    plan = scaler.plan("flowise-worker", 1, scaler.snapshot())
    assert plan.steps() == (
        "unpause warm replica p-flowise-worker-1",
        "wait up to 10s for each new replica to be fit",
    )
    outcome = scaler.apply(plan, scaler.snapshot())
    assert outcome.added == ("p-flowise-worker-1",)
    assert engine.actions == ["scale_to flowise-worker 1", "unpause p-flowise-worker-1"]
    paused = [r.name for r in engine.containers if r.state == "paused"]
    assert paused == ["p-flowise-worker-2"], "the rest of the pool stays paused"


def test_paused_and_warming_replicas_are_never_routed(tmp_path) -> None:
    engine = FakeEngine(1)
    engine.containers += [
        container("flowise", 2, state="paused"),
        container("flowise", 3, state="warming"),
    ]
    _, path = scaler_for(engine, tmp_path, Clock())
    assert servers(path) == ["172.18.1.1:3000"]


def test_a_scale_in_stops_running_replicas_and_keeps_the_pool(tmp_path) -> None:
    engine = FakeEngine(3, connections=[[], []])
    engine.containers.append(container("flowise", 4, state="paused"))
    scaler, _ = scaler_for(engine, tmp_path, Clock())
    plan = scaler.plan("flowise", 2, scaler.snapshot())
    assert [r.name for r in plan.victims] == ["p-flowise-3"]
    scaler.apply(plan, scaler.snapshot())
    assert [r.name for r in engine.containers if r.state == "paused"] == ["p-flowise-4"]
