"""On REAL Flowise 3.1.4 (the local image of .ci/build-flowise-image), every target of issue #13
in one run, each next to a plain `docker compose up --scale` measured in the same run, on the
same stack (`compose-flowise init` + `up`, WORKER_CONCURRENCY=2, the LLM-free sleep flow of
tests/e2e/flows/sleep-agentflow.json). The daemon runs on its shipped defaults (2 s ticks);
each step only sets the services' bounds and pools.

- worker scale-out, warm and cold: from the moment a backlog appears in
  bull:flowise-queue-prediction (polled every 0.1 s) until a new worker takes jobs (more jobs
  active at once than one worker's WORKER_CONCURRENCY). Plain: `docker compose up --scale
  flowise-worker=2` the very moment the backlog appears. The warm step then keeps predictions
  coming until the daemon has refilled its pool.
- main scale-out, warm: from the start of a surge of predictions in flight through nginx until
  a third main serves some of them, with where the time went (decided, unpaused, routed).
  Plain: `docker compose up --scale flowise=3` the moment the surge starts, nginx reloaded the
  moment the new main is healthy. The daemon then refills its pool under the surge.
- a main draining while a backlog appears: the daemon scales the mains 3 -> 2 (the victim has a
  30 s prediction in flight) and, during that drain, must decide a worker scale-out within one
  tick; every gap between two ticks is measured.
- workers scaled in while they run 20 s jobs: jobs cut (stalled, as BullMQ's own stalled check
  reports them) and predictions failed. Plain: `docker compose up --scale flowise-worker=1`
  while both workers run jobs.
- the idle daemon on the shipped services: CPU (its own and its docker commands', % of one
  core) and resident memory.

Predictions failed are counted through every step: scale-outs, scale-ins, refills.
Writes the section between <!-- real-flowise:begin --> and <!-- real-flowise:end --> of
docs/benchmarks.md and prints it. Takes about 25 minutes and 6 GB of memory.

Usage: python bench/real_flowise.py [--steps a,b] [--rounds N]
       (the package installed, a Docker engine, .ci/build-flowise-image run)
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import tomli_w

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness import Daemon, free_port  # noqa: E402
from real_flowise_stack import (  # noqa: E402
    QUEUE,
    WORKER_CONCURRENCY,
    PredictionArrivals,
    PredictionLoad,
    RealFlowise,
    flowise_image,
    running_real_flowise,
)
from timing import write_section  # noqa: E402

from autoscaler import config as config_module  # noqa: E402
from autoscaler.config.settings import DaemonSettings  # noqa: E402
from autoscaler.policy import Override  # noqa: E402
from autoscaler.runtime import wiring  # noqa: E402
from autoscaler.runtime.state import StateFile  # noqa: E402
from autoscaler.signals.bullmq_reads import BullMQQueue  # noqa: E402

BEGIN, END = "<!-- real-flowise:begin -->", "<!-- real-flowise:end -->"
MAINS, WORKERS = "flowise", "flowise-worker"
INTERVAL = DaemonSettings().interval_seconds
BURST, BURST_MS = 24, 8000
"""A burst the shipped queue signal takes for a surge."""
SURGE_MS, SURGE_CLIENTS, SURGE_ARRIVALS = 3000, 12, 1.0
"""The mains' surge: 12 predictions in flight at once, against 4 a main, and new users'
predictions arriving at 1 a second, each whenever it comes (an open loop), until a 3rd main
serves: nginx can send a new main only requests that arrive after it joined."""
DRAIN_MS = 30000
"""The prediction in flight on each main while one of them drains."""
JOB_MS, JOB_CLIENTS = 20000, 2
"""The workers' scale-in: 2 clients keep 20 s jobs running."""
REFILL_MS, REFILL_CLIENTS = 1000, 2
"""Predictions kept coming while the daemon refills its pool."""
IDLE_SECONDS = 180
"""Long enough to hold three of the daemon's `docker events` calls: their CPU counts once each ends."""
TARGET_SECONDS = 3 + INTERVAL


# -- what the steps watch -------------------------------------------------------------------


class Watch:
    """Polls the queue (0.1 s) and the running workers from the start; each time is monotonic."""

    def __init__(self, flowise: RealFlowise) -> None:
        self.flowise = flowise
        self.backlog_at: float | None = None
        self.second_worker_at: float | None = None
        self.taking_jobs_at: float | None = None
        self.backlog_seen = threading.Event()
        self._stop = threading.Event()

    def __enter__(self) -> Watch:
        self._threads = [threading.Thread(target=self._queue), threading.Thread(target=self._ps)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _queue(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            waiting, active = self.flowise.queue()
            now = time.monotonic()
            if self.backlog_at is None and waiting > 0:
                self.backlog_at = now
                self.backlog_seen.set()
            if self.taking_jobs_at is None and active > WORKER_CONCURRENCY:
                self.taking_jobs_at = now
            time.sleep(0.1)

    def _ps(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.second_worker_at is None and len(self.flowise.running(WORKERS)) >= 2:
                self.second_worker_at = time.monotonic()
            time.sleep(0.1)

    def figures(self) -> dict[str, float]:
        if None in (self.backlog_at, self.second_worker_at, self.taking_jobs_at):
            raise RuntimeError(
                f"incomplete: backlog {self.backlog_at}, second worker "
                f"{self.second_worker_at}, taking jobs {self.taking_jobs_at}"
            )
        return {"runs": self.second_worker_at - self.backlog_at,
                "takes": self.taking_jobs_at - self.backlog_at,
                "backlog_at": self.backlog_at}  # fmt: skip


class Unpauses:
    """`docker events` of the project's unpauses: when each happened (wall clock)."""

    def __init__(self, flowise: RealFlowise) -> None:
        project = flowise.stack.settings.compose.project_name
        self._process = subprocess.Popen(
            ["docker", "events", "--filter", f"label=com.docker.compose.project={project}",
             "--filter", "event=unpause", "--format", "{{.TimeNano}}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.times: list[float] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self._process.stdout:
            self.times.append(int(line) / 1e9)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait()


class Routed:
    """When (wall clock) the upstream file first lists `servers` servers (polled every 0.02 s)."""

    def __init__(self, flowise: RealFlowise, servers: int) -> None:
        self._path = flowise.stack.settings.nginx.upstream_file
        self._servers = servers
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)
        self._thread.start()

    def _poll(self) -> None:
        while self.at is None and not self._stop.wait(0.02):
            if self._path.read_text().count("max_fails") >= self._servers:
                self.at = time.time()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def logged_at(line: str) -> float:
    """The wall-clock time of a daemon log line (`2026-12-01 08:40:01,123 INFO ...`, local)."""
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def acted_at(daemon: Daemon, service: str, out: bool, since: float = 0.0) -> float:
    """When (wall clock) a tick of the daemon, since `since`, first started scaling `service`
    out (or in)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for line in list(daemon.lines):
            if logged_at_or_none(line) is None or logged_at(line) < since:
                continue
            for part in line.split(" || "):
                change = re.match(rf".*?\b{re.escape(service)} (\d+) -> (\d+):", part)
                if change and "[acted]" in part and (int(change[2]) > int(change[1])) == out:
                    return logged_at(line)
        time.sleep(0.1)
    raise RuntimeError(f"the daemon never scaled {service} {'out' if out else 'in'}")


def logged_at_or_none(line: str) -> float | None:
    try:
        return logged_at(line)
    except ValueError:
        return None


class Ticks:
    """Every tick the daemon records in its state file (polled every 0.05 s)."""

    def __init__(self, state_file: Path) -> None:
        self._file = StateFile(state_file)
        self.at: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            last = self._file.read().last_tick
            if last is not None and (not self.at or last.at != self.at[-1]):
                self.at.append(last.at)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.at, self.at[1:], strict=False)), default=0.0)


class Stalled:
    """Jobs BullMQ reports stalled (cut from a worker and run again) since it was made."""

    def __init__(self, flowise: RealFlowise) -> None:
        self._queue = BullMQQueue(flowise.redis(), QUEUE)
        self._queue.stalled_since_last_read()  # marks where to start

    def since(self) -> int:
        return self._queue.stalled_since_last_read() or 0


# -- the stack between steps ----------------------------------------------------------------


def scale(flowise: RealFlowise, service: str, count: int) -> None:
    scaler = wiring.transaction(flowise.stack.settings)
    outcome = scaler.scale(service, count, scaler.snapshot())
    if outcome.not_ready:
        raise RuntimeError(f"{service} not ready after scaling to {count}: {outcome}")


def drop_warm_pool(flowise: RealFlowise) -> None:
    """Remove the paused replicas a daemon left (the next step starts without a pool)."""
    docker = wiring.docker_client(flowise.stack.settings)
    snapshot = wiring.transaction(flowise.stack.settings).snapshot()
    paused = [r.id for replicas in snapshot.values() for r in replicas if r.state == "paused"]
    if paused:
        docker.container.unpause(paused)
        docker.container.remove(paused, force=True)


def settle(flowise: RealFlowise, mains: int = 2, workers: int = 1) -> None:
    """The stack as each step expects it: no pool, `mains` and `workers` running, queue empty."""
    drop_warm_pool(flowise)
    scale(flowise, MAINS, mains)
    scale(flowise, WORKERS, workers)
    while flowise.queue() != (0, 0):
        time.sleep(0.5)


def plain_scale(flowise: RealFlowise, service: str, count: int) -> None:
    """`docker compose up --scale service=count`, as an operator types it."""
    docker = wiring.docker_client(flowise.stack.settings)
    docker.compose.up(services=[service], scales={service: count}, detach=True, recreate=False,
                      dependencies=False, quiet=True)  # fmt: skip


def daemon_config(flowise: RealFlowise, folder: Path, services: dict | None) -> Path:
    """The stack's own config (written by init) with `services` over it (None: the shipped
    services) and a free metrics port."""
    if services is not None:
        return flowise.daemon_config(folder / "bench-daemon.toml", services)
    settings = tomllib.loads(flowise.stack.config_file.read_text())
    settings.setdefault("daemon", {})["metrics_port"] = free_port()
    settings.pop("services", None)
    path = folder / "bench-daemon.toml"
    path.write_text(tomli_w.dumps(settings))
    path.chmod(0o600)
    return path


def with_daemon(flowise: RealFlowise, config: Path, run: Callable):
    """`run(daemon)` with a daemon on `config`; its last lines printed when `run` fails."""
    daemon = Daemon(config)
    try:
        daemon.wait_for(r"tick \(leading", timeout=60)
        return run(daemon)
    except Exception:
        print("\n".join(daemon.lines[-40:]), file=sys.stderr, flush=True)
        raise
    finally:
        daemon.stop()


def failed(outcomes) -> int:
    return sum(1 for o in outcomes if o.status != 200)


# -- workers scaled out ---------------------------------------------------------------------


def burst_with(flowise: RealFlowise, on_backlog: Callable[[], None]) -> dict:
    """A burst of predictions; `on_backlog()` runs the moment the backlog appears."""
    with Watch(flowise) as watch, ThreadPoolExecutor(BURST) as pool:
        answers = [pool.submit(flowise.predict, str(BURST_MS)) for _ in range(BURST)]
        if not watch.backlog_seen.wait(60):
            raise RuntimeError("no backlog within 60 s")
        on_backlog()
        statuses = [answer_status(a) for a in answers]
    return {**watch.figures(), "failed": sum(s != 200 for s in statuses)}


def answer_status(answer) -> int | None:
    try:
        return answer.result().status_code
    except Exception:  # noqa: BLE001 (a prediction that never answered is a failed one)
        return None


def plain_worker_out(flowise: RealFlowise, folder: Path) -> dict:
    try:
        return burst_with(flowise, lambda: plain_scale(flowise, WORKERS, 2))
    finally:
        settle(flowise)


def worker_out(flowise: RealFlowise, folder: Path) -> dict:
    services = {MAINS: {}, WORKERS: {"min_replicas": 1, "max_replicas": 2}}
    try:
        return with_daemon(
            flowise,
            daemon_config(flowise, folder, services),
            lambda daemon: burst_with(flowise, noop),
        )
    finally:
        settle(flowise)


def warm_worker_out(flowise: RealFlowise, folder: Path) -> dict:
    """With one warm worker: the daemon fills the pool before the burst, and refills it after
    while predictions keep coming."""
    services = {MAINS: {}, WORKERS: {"min_replicas": 1, "max_replicas": 2, "warm_replicas": 1}}

    def run(daemon: Daemon) -> dict:
        daemon.wait_for(r"warm and paused", timeout=240)
        daemon.ticks_from_now(2)  # a tick has seen the pool
        figures = burst_with(flowise, noop)
        return {**figures, "failed": figures["failed"] + refill_under_load(flowise, daemon)}

    try:
        return with_daemon(flowise, daemon_config(flowise, folder, services), run)
    finally:
        settle(flowise)


def refill_under_load(flowise: RealFlowise, daemon: Daemon) -> int:
    """Predictions keep coming until the daemon has refilled its pool: those that failed."""
    with PredictionLoad(flowise, str(REFILL_MS), clients=REFILL_CLIENTS) as load:
        daemon.wait_for(r"warm and paused|left running|did not warm up", timeout=240)
    return failed(load.outcomes)


def noop() -> None:
    pass


# -- mains scaled out -----------------------------------------------------------------------


def mains_serving(flowise: RealFlowise, count: int, timeout: float = 300) -> float:
    """Waits until `count` mains each have a request in flight from nginx: the moment (wall)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(serving := mains_in_flight(flowise)) >= count:
            return time.time()
        time.sleep(0.05)
    raise RuntimeError(f"{count} mains did not serve through nginx within {timeout:.0f}s: "
                       f"only {sorted(serving)}")  # fmt: skip


def mains_in_flight(flowise: RealFlowise) -> set[str]:
    """The running mains nginx has a request in flight to now."""
    scaler = wiring.transaction(flowise.stack.settings)
    snapshot = scaler.snapshot()
    nginx = next(r for r in snapshot["nginx"] if r.state == "running")
    servers = {f"{r.address_on(nginx.addresses)}:3000": r.name for r in snapshot.get(MAINS, [])
               if r.state == "running"}  # fmt: skip
    in_flight = scaler.upstream.open_connections(nginx, servers)
    return {servers[server] for server, count in in_flight.items() if count}


def surge_mains(flowise: RealFlowise, on_surge: Callable[[], None], after=None) -> dict:
    """From 2 mains, a surge of predictions in flight; `on_surge()` runs as it starts. Seconds
    from its start until a third main serves; then `after(started)` runs under the same surge
    and adds its figures."""
    running = flowise.running(MAINS)
    if len(running) != 2:
        print(f"not 2 mains running at the surge's start: {running}", file=sys.stderr)
    with (
        PredictionLoad(flowise, str(SURGE_MS), clients=SURGE_CLIENTS) as load,
        PredictionArrivals(flowise, str(SURGE_MS), per_second=SURGE_ARRIVALS) as arrivals,
    ):
        started = time.time()
        on_surge()
        figures = {"serves": mains_serving(flowise, 3) - started}
        arrivals.stop_starting()
        if after:
            figures |= after(started)
    return {**figures, "failed": failed(load.outcomes) + failed(arrivals.outcomes)}


def plain_main_out(flowise: RealFlowise, folder: Path) -> dict:
    """`docker compose up --scale flowise=3` the moment the surge starts, and nginx reloaded
    the moment the new main is healthy: what a hand-made setup does at best."""
    scaler = wiring.transaction(flowise.stack.settings)

    def scale_and_route() -> None:
        plain_scale(flowise, MAINS, 3)
        threading.Thread(target=route_when_fit, daemon=True).start()

    def route_when_fit() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            snapshot = scaler.snapshot()
            if sum(r.routable for r in snapshot[MAINS]) == 3:
                scaler.reconcile(snapshot)
                return
            time.sleep(0.1)

    try:
        return surge_mains(flowise, scale_and_route)
    finally:
        settle(flowise)


def warm_main_out(flowise: RealFlowise, folder: Path) -> dict:
    """The daemon, scaling the mains on nginx's requests in flight (4 a main), one main warm;
    then it refills the pool under the surge."""
    surge = {"kind": "nginx_in_flight", "target_per_replica": SURGE_CLIENTS // 3}
    services = {
        MAINS: {"min_replicas": 2, "max_replicas": 3, "warm_replicas": 1, "signals": [surge]},
        WORKERS: {"min_replicas": 1, "max_replicas": 1},
    }

    def run(daemon: Daemon) -> dict:
        daemon.wait_for(r"warm and paused", timeout=240)
        daemon.ticks_from_now(2)  # a tick has seen the pool
        unpauses, routed = Unpauses(flowise), Routed(flowise, 3)

        def breakdown(started: float) -> dict:
            figures = {
                "routed": (routed.at or math.nan) - started,
                "decided": acted_at(daemon, MAINS, out=True, since=started - 1) - started,
                "unpaused": min((t for t in unpauses.times if t > started), default=math.nan)
                - started,
            }
            return figures | {"refill_failed": refill_under_load(flowise, daemon)}

        try:
            return surge_mains(flowise, noop, after=breakdown)
        finally:
            unpauses.close()
            routed.close()

    try:
        return with_daemon(flowise, daemon_config(flowise, folder, services), run)
    finally:
        settle(flowise)


# -- a main drains while a backlog appears --------------------------------------------------


def drain(flowise: RealFlowise, folder: Path) -> dict:
    """3 mains and 2 workers, a 30 s prediction in flight on each main; the daemon (mains at
    most 2) drains one; 3 s into the drain a burst makes a backlog: how long until the daemon
    decides a third worker, and the longest gap between two ticks meanwhile."""
    settle(flowise, mains=3, workers=2)
    services = {MAINS: {"min_replicas": 2, "max_replicas": 2},
                WORKERS: {"min_replicas": 1, "max_replicas": 3}}  # fmt: skip
    config = daemon_config(flowise, folder, services)

    def run(daemon: Daemon) -> dict:
        ticks = Ticks(config_module.load(config, {}).settings.daemon.state_file)
        try:
            figures = decided_while_draining(flowise, daemon)
        finally:
            ticks.close()
        return figures | deciding_tick(ticks, figures) | {"longest_gap": ticks.longest_gap()}

    try:
        with ExitStack() as stack:
            loads = every_main_busy(flowise, stack)
            figures = with_daemon(flowise, config, run)
        return figures | {
            "failed": figures["failed"] + sum(failed(load.outcomes) for load in loads)
        }
    finally:
        settle(flowise)


def every_main_busy(flowise: RealFlowise, stack: ExitStack) -> list[PredictionLoad]:
    """Clients of DRAIN_MS predictions, added one at a time until nginx has one in flight to
    each of the 3 mains (each of nginx's worker processes balances on its own: 3 clients may
    put two on one main and none on another); at most as many as the workers' slots, so that
    no job waits before the burst."""
    loads = []
    for _ in range(2 * WORKER_CONCURRENCY):
        loads.append(stack.enter_context(PredictionLoad(flowise, str(DRAIN_MS), clients=1)))
        time.sleep(2)
        if len(mains_in_flight(flowise)) >= 3:
            return loads
    raise RuntimeError(f"{2 * WORKER_CONCURRENCY} predictions in flight, and not on every main")


def decided_while_draining(flowise: RealFlowise, daemon: Daemon) -> dict:
    acted_at(daemon, MAINS, out=False)
    time.sleep(3)
    to_wall = time.time() - time.monotonic()
    figures = burst_with(flowise, noop)
    decided = acted_at(daemon, WORKERS, out=True, since=figures["backlog_at"] + to_wall - 1)
    done = daemon.wait_for(rf"{MAINS} 3 -> 2 (done|failed) after", timeout=120)
    return {
        "decided": decided - (figures["backlog_at"] + to_wall),
        "backlog_wall": figures["backlog_at"] + to_wall,
        "decided_wall": decided,
        "drain": float(done.rsplit("after ", 1)[1].split("s")[0]),
        "drain_left": logged_at(done) - decided,
        "skipped": sum("skipped" in line for line in daemon.lines),
        "failed": figures["failed"],
    }


def deciding_tick(ticks: Ticks, figures: dict) -> dict:
    """Whether the first tick that started after the backlog appeared decided the scale-out
    (its log line comes before the next tick starts): seconds from the backlog to that tick's
    start, and from its start to its decision (the tick's own work)."""
    backlog, decided = figures["backlog_wall"], figures["decided_wall"]
    after = [t for t in ticks.at if t > backlog]
    if not after:
        return {"first_tick": math.nan, "tick_work": math.nan, "by_first_tick": 0}
    by_first = decided >= after[0] and (len(after) < 2 or decided < after[1])
    return {"first_tick": after[0] - backlog, "tick_work": decided - after[0],
            "by_first_tick": int(by_first)}  # fmt: skip


# -- mains and workers scaled in ------------------------------------------------------------


def main_in_under_load(flowise: RealFlowise, scale_in: Callable[[], None]) -> dict:
    """From 3 mains, `scale_in()` to 2 while clients predict through nginx: the predictions
    that failed."""
    settle(flowise, mains=3)
    try:
        with PredictionLoad(flowise, str(SURGE_MS), clients=4) as load:
            time.sleep(8)
            scale_in()
            time.sleep(2)
        return {"failed": failed(load.outcomes)}
    finally:
        scaler = wiring.transaction(flowise.stack.settings)
        scaler.reconcile(scaler.snapshot())  # what a hand-made setup does at some point
        settle(flowise)


def plain_main_in(flowise: RealFlowise, folder: Path) -> dict:
    return main_in_under_load(flowise, lambda: plain_scale(flowise, MAINS, 2))


def workers_in_under_load(flowise: RealFlowise, scale_in: Callable[[], None]) -> dict:
    """2 workers, clients keeping 20 s jobs running; `scale_in()` to 1 worker. The jobs cut
    (BullMQ reports them stalled: its check runs every 30 s, so the count waits 40 s after the
    scale-in) and the predictions failed."""
    settle(flowise, workers=2)
    stalled = Stalled(flowise)
    try:
        with PredictionLoad(flowise, str(JOB_MS), clients=JOB_CLIENTS) as load:
            scale_in()
            time.sleep(40)
        return {"cut": stalled.since(), "failed": failed(load.outcomes)}
    finally:
        settle(flowise)


def plain_worker_in(flowise: RealFlowise, folder: Path) -> dict:
    def scale_in() -> None:
        while flowise.queue()[1] < JOB_CLIENTS:  # the jobs run
            time.sleep(0.1)
        time.sleep(5)
        plain_scale(flowise, WORKERS, 1)

    return workers_in_under_load(flowise, scale_in)


def worker_in(flowise: RealFlowise, folder: Path) -> dict:
    """The daemon (workers 1 to 2) scales the workers in while both run a job, the count pinned
    in its state file as `compose-flowise scale --for` does: the shipped queue signal keeps 2
    workers for this load, and what is measured is how the daemon removes one."""
    services = {MAINS: {}, WORKERS: {"min_replicas": 1, "max_replicas": 2}}
    config = daemon_config(flowise, folder, services)

    def pinned_to_one(daemon: Daemon) -> None:
        while flowise.queue()[1] < JOB_CLIENTS:  # both jobs running
            time.sleep(0.1)
        state_file = StateFile(config_module.load(config, {}).settings.daemon.state_file)
        with state_file.locked():
            state = state_file.read()
            pinned = state.history(WORKERS).with_override(Override(1, until=None))
            state_file.write(state.with_history(WORKERS, pinned))
        daemon.wait_for(rf"{WORKERS} 2 -> 1 (done|failed) after", timeout=300)

    return workers_in_under_load(flowise, lambda: with_daemon(flowise, config, pinned_to_one))


# -- the idle daemon ------------------------------------------------------------------------


def idle(flowise: RealFlowise, folder: Path) -> dict:
    """The daemon on the shipped services with nothing to do: CPU over IDLE_SECONDS (its own
    and the docker commands it ran, in % of one core) and resident memory at the end."""
    config = daemon_config(flowise, folder, None)

    def run(daemon: Daemon) -> dict:
        daemon.ticks_from_now(3)
        before, started = cpu_seconds(daemon.process.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        used = cpu_seconds(daemon.process.pid) - before
        return {"cpu": 100 * used / (time.monotonic() - started),
                "rss": rss_mib(daemon.process.pid)}  # fmt: skip

    return with_daemon(flowise, config, run)


def cpu_seconds(pid: int) -> float:
    """User and system time of the process and of its children it waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) / 1024


# -- the section ----------------------------------------------------------------------------

STEPS: dict[str, Callable[[RealFlowise, Path], dict]] = {
    "plain_out": plain_worker_out,
    "warm_out": warm_worker_out,
    "out": worker_out,
    "plain_main_out": plain_main_out,
    "warm_main_out": warm_main_out,
    "drain": drain,
    "plain_main_in": plain_main_in,
    "plain_worker_in": plain_worker_in,
    "worker_in": worker_in,
    "idle": idle,
}
OURS_FAILED = ("warm_out", "out", "warm_main_out", "drain", "worker_in")
PLAIN_FAILED = ("plain_out", "plain_main_out", "plain_main_in", "plain_worker_in")


class Results:
    def __init__(self, results: dict[str, list[dict]]) -> None:
        self._results = results

    def median(self, step: str, figure: str) -> float | None:
        values = [r[figure] for r in self._results.get(step, [])]
        return statistics.median(values) if values else None

    def count(self, step: str) -> int:
        return len(self._results.get(step, []))

    def total(self, steps: tuple[str, ...], figure: str) -> int | None:
        values = [r[figure] for s in steps for r in self._results.get(s, [])]
        return sum(values) if values else None


def shown(value: float | None, digits: int = 1) -> str:
    return "not run" if value is None else f"{value:.{digits}f}"


def verdict(value: float | None, target: float, strict: bool = False) -> str:
    if value is None:
        return "not run"
    if value < target or (value == target and not strict):
        return "yes"
    missed = value - target
    digits = 0 if float(missed).is_integer() else 1 if missed >= 0.1 else 2
    return f"**no** (by {missed:.{digits}f})"


def by_first_tick(r: Results) -> str:
    """Met when, in every round, the first tick after the backlog decided while the drain went
    on."""
    rounds, first = r.count("drain"), r.total(("drain",), "by_first_tick")
    if not rounds:
        return "not run"
    if (r.median("drain", "drain_left") or 0) <= 0:
        return "**no** (the drain had ended: not measured)"
    return "yes" if first == rounds else f"**no** ({rounds - (first or 0)} of {rounds} rounds)"


def rows(r: Results) -> list[tuple[str, str, str, str, str]]:
    """(figure, ours, plain, target, met) for each row of the table."""
    warm_takes, warm_serves = r.median("warm_out", "takes"), r.median("warm_main_out", "serves")
    decided, gap = r.median("drain", "decided"), r.median("drain", "longest_gap")
    failed_ours = r.total(OURS_FAILED, "failed")
    cut, cpu, rss = r.total(("worker_in",), "cut"), r.median("idle", "cpu"), r.median("idle", "rss")
    steps = " / ".join(
        shown(r.median("warm_main_out", k)) for k in ("decided", "unpaused", "routed")
    )
    refilled = r.total(("warm_out", "warm_main_out"), "failed")
    target = f"<= {TARGET_SECONDS:g}"
    return [
        ("worker, 1 warm replica: backlog appears -> a 2nd worker takes jobs (s)",
         shown(warm_takes), shown(r.median("plain_out", "takes")), target,
         verdict(warm_takes, TARGET_SECONDS)),
        ("worker, cold: backlog appears -> a 2nd worker's container runs (s)",
         shown(r.median("out", "runs")), shown(r.median("plain_out", "runs")), "", ""),
        ("worker, cold: backlog appears -> a 2nd worker takes jobs (s)",
         shown(r.median("out", "takes")), shown(r.median("plain_out", "takes")),
         "report (46.8 before #13)", ""),
        ("main, 1 warm replica: in-flight surge -> a 3rd main serves through nginx (s)",
         shown(warm_serves), shown(r.median("plain_main_out", "serves")), target,
         verdict(warm_serves, TARGET_SECONDS)),
        ("main, 1 warm replica: of which decided / unpaused / in the upstream (s after the surge)",
         steps, "", "", ""),
        ("while a main drains: backlog appears -> a worker scale-out decided (s)",
         shown(decided), "no daemon", f"by the first tick after it (<= {INTERVAL:g} s away)",
         by_first_tick(r)),
        ("while a main drains: of which to the next tick's start / that tick's own work (s)",
         f"{shown(r.median('drain', 'first_tick'))} / {shown(r.median('drain', 'tick_work'))}",
         "", "", ""),
        ("while a main drains: the main's drain took, and went on after that decision (s)",
         f"{shown(r.median('drain', 'drain'))}, {shown(r.median('drain', 'drain_left'))}",
         "", "", ""),
        ("while a main drains: longest gap between two ticks (s); ticks skipped",
         f"{shown(gap)}; {shown(r.total(('drain',), 'skipped'), 0)}", "no daemon",
         f"< {2 * INTERVAL:g} (none skipped); 0", verdict(gap, 2 * INTERVAL, strict=True)),
        ("predictions failed, every step (scale-outs, scale-ins, refills)",
         shown(failed_ours, 0), shown(r.total(PLAIN_FAILED, "failed"), 0), "0",
         verdict(failed_ours, 0)),
        ("of which while the warm pools refilled", shown(refilled, 0), "", "", ""),
        ("jobs cut (stalled) by a scale-in of 2 -> 1 workers running 20 s jobs",
         shown(cut, 0), shown(r.total(("plain_worker_in",), "cut"), 0), "0", verdict(cut, 0)),
        ("idle daemon on the shipped services: CPU, with its docker commands (% of one core)",
         shown(cpu, 2), "no daemon", "< 1", verdict(cpu, 1, strict=True)),
        ("idle daemon: resident memory (MiB)", shown(rss), "no daemon", "< 80",
         verdict(rss, 80, strict=True)),
    ]  # fmt: skip


def section(
    results: dict[str, list[dict]], rounds: int, image: str, seconds: float, failures: list[str]
) -> str:
    table = rows(Results(results))
    setup = (
        f"Written by `python bench/real_flowise.py`; edit that, not this. Run on "
        f"{datetime.date.today().isoformat()} on the shared 2-core machine, {rounds} round(s) "
        f"(medians; counts summed), {seconds / 60:.0f} minutes in all: the product's stack "
        f"(`compose-flowise init` + `up`) on the local image `{image}` (.ci/build-flowise-image) "
        f"with Postgres, Redis and nginx, WORKER_CONCURRENCY={WORKER_CONCURRENCY}, the LLM-free "
        f"sleep flow. The daemon on its shipped defaults ({INTERVAL:g} s ticks); each step sets "
        "only the services' bounds and pools. Targets: issue #13 (3 s plus one signal period)."
    )
    notes = (
        f"Workers: a burst of {BURST} predictions of {BURST_MS / 1000:g} s onto 1 worker; plain "
        "compose is started the moment the backlog appears (no operator reacts that fast). "
        f"Mains: {SURGE_CLIENTS} clients keep {SURGE_MS / 1000:g} s predictions in flight "
        f"through nginx against {SURGE_CLIENTS // 3} a main, and new users' predictions "
        f"arrive at {SURGE_ARRIVALS:g} a second, whenever they come, until a 3rd main serves: "
        "nginx can send a new main only requests that arrive after it joined (the surge's own "
        "clients send one only when one of theirs finishes). Plain compose is started the "
        "moment the surge starts and nginx reloaded the moment its new main is healthy. A main "
        "serves once nginx has a request in flight to it (polled about every 0.3 s: one "
        "snapshot and one read of nginx's sockets). The worker decided while a main drains: "
        "the time of the tick's log line, written once that tick decided and started the "
        "action; met when the first tick that started after the backlog appeared decided it "
        "(the daemon reads every signal once a tick, so that tick starts up to one interval "
        "after the backlog appears). The drain: 3 mains with a "
        f"{DRAIN_MS / 1000:g} s prediction in flight on each, the daemon capped at 2, a burst "
        "3 s into the drain. Failed predictions: ours over the steps with a daemon (warm and "
        "cold scale-outs, both pools refilled under load, the drain, the workers' scale-in); "
        "plain over the plain steps, with a main stopped by `docker compose up --scale "
        "flowise=2` under load (it cuts what it had in flight). Jobs cut: "
        f"{JOB_CLIENTS} client(s) keep {JOB_MS / 1000:g} s jobs running on 2 workers; ours is "
        "the daemon's own scale-in (the count pinned to 1, as `scale --for` does), plain "
        "`docker compose up --scale flowise-worker=1` while the jobs run; counted by BullMQ's "
        "stalled check 40 s "
        "later. "
        f"Idle: {IDLE_SECONDS} s of the shipped services (2 mains, 1 worker, no pool) with no "
        "load: the daemon process's CPU time and that of the docker commands it ran."
    )
    return "\n".join([
        BEGIN,
        "## Real Flowise 3.1.4: the targets of issue #13, next to plain `docker compose`",
        "",
        setup,
        "",
        "| figure | compose-flowise | plain compose, same run | target | met |",
        "|---|--:|--:|--:|:-:|",
        *(f"| {name} | {ours} | {plain} | {target} | {met} |"
          for name, ours, plain, target, met in table),
        "",
        notes,
        *([""] + [f"Step failed, its figures not run: {f}" for f in failures] if failures else []),
        END,
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", help=f"comma-separated, of: {', '.join(STEPS)} (default: all)")
    args = parser.parse_args()
    chosen = args.steps.split(",") if args.steps else list(STEPS)
    unknown = sorted(set(chosen) - set(STEPS))
    if unknown:
        parser.error(f"unknown steps {', '.join(unknown)}: choose among {', '.join(STEPS)}")
    started = time.monotonic()
    image = flowise_image()
    results: dict[str, list[dict]] = defaultdict(list)
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as folder, running_real_flowise(Path(folder)) as flowise:
        for round_ in range(args.rounds):
            for key in (k for k in STEPS if k in chosen):
                step_started = time.monotonic()
                try:
                    results[key].append(STEPS[key](flowise, Path(folder)))
                except Exception as error:  # noqa: BLE001 (one step's failure is reported)
                    failures.append(f"{key}: {error}")
                    print(f"round {round_ + 1}: {key} FAILED: {error!r}", file=sys.stderr)
                    continue
                print(f"round {round_ + 1}: {key} {results[key][-1]} "
                      f"({time.monotonic() - step_started:.0f} s)", file=sys.stderr,
                      flush=True)  # fmt: skip
    text = section(results, args.rounds, image, time.monotonic() - started, failures)
    if not args.steps:  # a partial run only prints: the full run's figures stay as published
        write_section(text, BEGIN, END)
    print(text)


if __name__ == "__main__":
    main()
