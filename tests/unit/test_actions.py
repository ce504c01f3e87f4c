"""Each service's action on its own: a main draining never holds up the ticks, nor a worker
scale-out; a stop ends every action's wait and leaves the upstream whole. The real transaction,
with a fake engine at the I/O edge whose nginx keeps a request in flight to every main until
the test lets it end."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from test_scaling import FakeEngine, container, servers
from test_tick import IDLE, NOW, FakeLease, FakeSensors
from test_worker_jobs import Queue

from autoscaler.actuators.main_restart import MainRestart, RestartPlan
from autoscaler.actuators.plan import Routing
from autoscaler.actuators.transaction import RunningJobs, ScaleTransaction
from autoscaler.actuators.upstream import NginxUpstream
from autoscaler.config import Settings
from autoscaler.policy import Override
from autoscaler.runtime.autoscaler import Autoscaler, TickReport
from autoscaler.runtime.daemon import finished_line
from autoscaler.runtime.main_watch import WatchOutcome
from autoscaler.runtime.observe import ListedEachTime
from autoscaler.runtime.state import StateFile
from autoscaler.runtime.telemetry import log_tick
from autoscaler.runtime.worker_jobs import WorkerJobs
from autoscaler.stopping import StopSignal

SETTINGS = Settings.model_validate({"services": {
    "flowise": {"min_replicas": 1, "max_replicas": 4},
    "flowise-worker": {"min_replicas": 1, "max_replicas": 8,
                       "signals": [{"kind": "bullmq_queue", "jobs_per_second_per_replica": 1}]},
}})  # fmt: skip
GUARD_SECONDS = 30.0
"""How long a test waits for what must happen before it calls it a hang: never a speed check."""


class DrainingEngine(FakeEngine):
    """Two mains and a worker; nginx has a request in flight to each main until `requests_end`."""

    def __init__(self) -> None:
        super().__init__(2)
        self.containers.append(container("flowise-worker", 1, health=None))
        self.draining = threading.Event()
        self.requests_end = threading.Event()
        self.worker_scaled = threading.Event()
        self.sockets_read_in: list[str] = []
        """The thread of each read of nginx's sockets."""

    def execute(self, replica, command) -> str:
        if command[0] == "cat":
            self.sockets_read_in.append(threading.current_thread().name)
            if self.actions[-1:] == ["nginx -s reload"]:  # the victim is out: the drain's poll
                self.draining.set()
            if not self.requests_end.is_set():
                self.connections = [[1, 2]]
        return super().execute(replica, command)

    def scale_to(self, service: str, count: int) -> None:
        super().scale_to(service, count)
        if service == "flowise-worker":
            self.worker_scaled.set()


def autoscaler(
    tmp_path: Path, engine: FakeEngine, stop: StopSignal, jobs: RunningJobs | None = None
) -> Autoscaler:
    routing = Routing("nginx", "flowise", 3000, ready_timeout_seconds=10, drain_timeout_seconds=600)
    upstream = NginxUpstream(engine, tmp_path / "flowise.conf")
    scaler = ScaleTransaction(engine, upstream, routing, time.monotonic, stop.pause, jobs)
    return Autoscaler(SETTINGS, FakeSensors(IDLE), ListedEachTime(scaler.snapshot), scaler,
                      FakeLease(), StateFile(tmp_path / "state.json"), lambda: NOW,
                      lambda: 5.0)  # fmt: skip


def draining_main(tmp_path: Path) -> tuple[Autoscaler, DrainingEngine, StopSignal]:
    """Two mains routed, then the daemon scaling them 2 -> 1: the victim draining."""
    engine, stop = DrainingEngine(), StopSignal()
    run = autoscaler(tmp_path, engine, stop)
    run.tick()  # routes both mains
    engine.actions.clear()
    pin(run, "flowise", 1)
    assert tick_in_a_thread(run).record.services["flowise"].acted
    assert engine.draining.wait(GUARD_SECONDS), "the main's drain started"
    return run, engine, stop


def pin(run: Autoscaler, service: str, replicas: int) -> None:
    state = run.state_store.read()
    pinned = state.history(service).with_override(Override(replicas, until=None))
    run.state_store.write(state.with_history(service, pinned))


def tick_in_a_thread(run: Autoscaler) -> TickReport:
    """The tick, run so that a tick that waited on an action shows as a hang, not a deadlock."""
    reports: list[TickReport] = []
    ticking = threading.Thread(target=lambda: reports.append(run.tick()), daemon=True)
    ticking.start()
    ticking.join(GUARD_SECONDS)
    assert reports, "the tick waited on an action in progress"
    return reports[0]


def test_a_worker_scale_out_starts_at_the_next_tick_while_a_main_drains(tmp_path) -> None:
    run, engine, _ = draining_main(tmp_path)
    pin(run, "flowise-worker", 3)
    second = tick_in_a_thread(run)
    worker, mains = second.record.services["flowise-worker"], second.record.services["flowise"]
    assert worker.acted and worker.desired == 3
    assert mains.in_progress is not None and mains.in_progress.startswith("2 -> 1 for ")
    assert not mains.acted, "no second action on a service with one in progress"
    assert engine.worker_scaled.wait(GUARD_SECONDS), "the worker scale-out ran during the drain"
    assert not any(a.startswith("remove") for a in engine.actions), "the main still drains"
    assert len(servers(tmp_path / "flowise.conf")) == 1, "the draining main stays out of nginx"

    engine.requests_end.set()
    finished = run.finish_actions()
    assert {s: f.error for s, f in finished.items()} == {"flowise": None, "flowise-worker": None}
    assert "remove p-flowise-2" in engine.actions


def test_the_tick_reads_no_main_s_requests_the_scale_in_reads_them_as_it_starts(tmp_path):
    """Choosing the least busy main takes a `docker exec` in nginx: never in the tick."""
    run, engine, _ = draining_main(tmp_path)
    engine.requests_end.set()
    finished = run.finish_actions()
    assert finished["flowise"].outcome.removed == ("p-flowise-2",)
    assert engine.sockets_read_in, "nginx's sockets were read to choose and to drain"
    assert all(name.startswith("act-flowise_") for name in engine.sockets_read_in), (
        engine.sockets_read_in
    )


def logged_worker(number: int) -> str:
    return f"[INFO]: Prediction Worker id-of-worker-{number} created\n"


def test_the_tick_reads_no_worker_s_log_the_scale_in_reads_them_and_spares_the_busy(
    tmp_path,
) -> None:
    """A worker's BullMQ ids come from its `docker logs`, slow on a loaded engine: read in the
    scale-in's own thread, never in the tick, where a long read would skip the next tick."""
    engine, stop = FakeEngine(1), StopSignal()
    engine.containers += [container("flowise-worker", n, health=None) for n in (1, 2)]
    read_in: list[str] = []

    def logs(replica, until) -> str:
        read_in.append(threading.current_thread().name)
        return logged_worker(replica.number)

    busy_newest = Queue({"id-of-worker-2": 3})
    jobs = WorkerJobs({"flowise-worker": [busy_newest]}, logs)
    run = autoscaler(tmp_path, engine, stop, jobs)
    pin(run, "flowise-worker", 1)
    planned = tick_in_a_thread(run).record.services["flowise-worker"]
    finished = run.finish_actions()["flowise-worker"]
    assert planned.acted and planned.plan[:2] == (
        "choose the least busy of p-flowise-worker-1, p-flowise-worker-2 as the action starts "
        "(the jobs each runs)",
        "wait up to 600s until the victim run no job (their BullMQ job locks)",
    )
    assert finished.error is None and finished.outcome.removed == ("p-flowise-worker-1",)
    assert read_in == ["act-flowise-worker_0"] * 2, "each worker's log, once, in the action"
    assert finished_line("flowise-worker", finished, NOW)[2].endswith(
        "done after 0.0s: removed p-flowise-worker-1"
    )


def test_the_tick_leaves_the_upstream_to_the_drain_in_progress(tmp_path) -> None:
    run, engine, _ = draining_main(tmp_path)
    reloads = engine.actions.count("nginx -s reload")
    for _ in range(3):
        tick_in_a_thread(run)
    assert engine.actions.count("nginx -s reload") == reloads, "the victim was never put back"
    engine.requests_end.set()
    run.finish_actions()


def test_a_stop_ends_every_action_and_routes_the_drained_main_again(tmp_path) -> None:
    run, engine, stop = draining_main(tmp_path)
    assert len(servers(tmp_path / "flowise.conf")) == 1

    stop.request()
    finished = run.finish_actions()
    assert "interrupted by the stop" in (finished["flowise"].error or "")
    assert not any(a.startswith("remove") for a in engine.actions), "nothing half removed"
    assert len(servers(tmp_path / "flowise.conf")) == 2, "the victim runs: routed to again"


def test_the_tick_line_shows_the_action_in_progress(tmp_path, caplog) -> None:
    run, engine, _ = draining_main(tmp_path)
    with caplog.at_level(logging.INFO, logger="compose-flowise"):
        log_tick("human", tick_in_a_thread(run), 0.01)
    assert "acting: 2 -> 1 for " in caplog.text
    assert "choose the least busy of p-flowise-1, p-flowise-2 as the action starts" in caplog.text
    assert "take the victim out of the nginx upstream" in caplog.text
    engine.requests_end.set()
    run.finish_actions()


class RestartingEngine(FakeEngine):
    """Two mains routed; a `docker restart` holds until the test lets it end."""

    def __init__(self) -> None:
        super().__init__(2)
        self.restarting = threading.Event()
        self.restart_ends = threading.Event()

    def restart(self, replica) -> None:
        self.restarting.set()
        assert self.restart_ends.wait(GUARD_SECONDS), "the test never let the restart end"
        self.actions.append(f"restart {replica.name}")


@dataclass
class DeafOnce:
    """A watch that finds p-flowise-1 deaf at its first check; the restart is the real one."""

    restart_main: MainRestart
    checks: int = 0

    def check(self, snapshot, now, in_flight=None, work=None) -> WatchOutcome:
        self.checks += 1
        if self.checks > 1:
            return WatchOutcome()
        [main] = [r for r in snapshot["flowise"] if r.name == "p-flowise-1"]
        return WatchOutcome(RestartPlan(main, "p-flowise-1 is deaf"))

    def restart(self, plan: RestartPlan) -> None:
        self.restart_main.apply(plan)


def watching(tmp_path: Path, stop: StopSignal) -> tuple[Autoscaler, RestartingEngine]:
    engine = RestartingEngine()
    run = autoscaler(tmp_path, engine, stop)
    run.tick()  # routes both mains
    restart = MainRestart(engine, run.transaction, lambda: stop.requested)
    run.main_watch = DeafOnce(restart)  # type: ignore[assignment]
    return run, engine


def test_a_deaf_main_restart_holds_its_service_not_the_ticks(tmp_path) -> None:
    run, engine = watching(tmp_path, StopSignal())
    tick_in_a_thread(run)
    assert engine.restarting.wait(GUARD_SECONDS), "the restart runs in the service's thread"
    assert servers(tmp_path / "flowise.conf") == ["172.18.1.2:3000"], "out of nginx first"
    with run.state_store.acting_if_free("flowise") as free:
        assert not free, "the mains' actuation lock is held: a `scale` by hand waits"
    during = tick_in_a_thread(run).record
    assert (during.services["flowise"].in_progress or "").startswith(
        "restart of the deaf p-flowise-1 for "
    )
    assert during.deaf_mains == ()

    engine.restart_ends.set()
    run.actions.wait()
    after = tick_in_a_thread(run).record
    assert [(e.replica, e.action) for e in after.deaf_mains] == [("p-flowise-1", "restarted")]
    assert "restart p-flowise-1" in engine.actions
    assert len(servers(tmp_path / "flowise.conf")) == 2, "routed again by the tick's reconcile"


def test_a_restart_that_ends_as_the_daemon_stops_is_kept_in_the_state(tmp_path) -> None:
    run, engine = watching(tmp_path, StopSignal())
    tick_in_a_thread(run)
    assert engine.restarting.wait(GUARD_SECONDS)
    engine.restart_ends.set()
    run.finish_actions()
    kept = run.state_store.read().deaf_mains
    assert [(e.replica, e.action) for e in kept] == [("p-flowise-1", "restarted")]


def test_a_stop_begins_no_restart_and_the_next_start_reconciles(tmp_path) -> None:
    stop = StopSignal()
    run, engine = watching(tmp_path, stop)
    stop.request()
    tick_in_a_thread(run)
    finished = run.finish_actions()
    assert "interrupted by the stop" in (finished["flowise"].error or "")
    assert not engine.restarting.is_set(), "no restart begun"
    assert len(servers(tmp_path / "flowise.conf")) == 2, "the upstream untouched"


def test_a_restart_ends_with_an_action_line(tmp_path) -> None:
    run, engine = watching(tmp_path, StopSignal())
    engine.restart_ends.set()
    tick_in_a_thread(run)
    finished = run.finish_actions()["flowise"]
    level, event, message = finished_line("flowise", finished, finished.started_at + 2)
    assert (level, event) == (logging.INFO, "action-done")
    assert message == "flowise restart of the deaf p-flowise-1 done after 2.0s"
