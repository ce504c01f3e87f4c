"""On REAL Flowise 3.1.4 (the local image of .ci/build-flowise-image), how fast compose-flowise
puts a new worker on a backlog and drains and removes a main, next to a plain
`docker compose up --scale` in the same run, on the same stack (`compose-flowise init` + `up`,
WORKER_CONCURRENCY=2, the flow of tests/e2e/flows/sleep-agentflow.json):

- worker scale-out, from the moment a backlog appears in bull:flowise-queue-prediction (polled
  every 0.1 s) until a new worker takes jobs (more jobs active at once than one worker's
  WORKER_CONCURRENCY). Ours: `compose-flowise daemon` on its shipped defaults (10 s ticks) with
  max 2 workers, which must notice the backlog itself. Plain: `docker compose up --scale
  flowise-worker=2` started the very moment the backlog appears, as if someone watched the queue
  with no reaction time at all. Also shown: until the second worker's container runs.
- main scale-in, 3 -> 2 with long predictions in flight through nginx. Ours: the Scaler takes
  the victim out of the upstream, waits until nginx has no request in flight to it, then stops
  it. Plain: `docker compose up --scale flowise=2`, which stops the highest-numbered main at
  once while nginx still routes to it. The predictions that failed on the way are counted.

Writes the section between <!-- real-flowise:begin --> and <!-- real-flowise:end --> of
docs/benchmarks.md and prints it. Takes about 10 minutes and 4-5 GB of memory.

Usage: python bench/real_flowise.py [--rounds N]
       (the package installed, a Docker engine, .ci/build-flowise-image run)
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness import Daemon  # noqa: E402
from real_flowise_stack import (  # noqa: E402
    WORKER_CONCURRENCY,
    PredictionLoad,
    RealFlowise,
    flowise_image,
    running_real_flowise,
)
from timing import write_section  # noqa: E402

from autoscaler.config.settings import DaemonSettings  # noqa: E402
from autoscaler.runtime import wiring  # noqa: E402

BEGIN, END = "<!-- real-flowise:begin -->", "<!-- real-flowise:end -->"
PARTIAL_BEGIN, PARTIAL_END = "<!-- real-flowise-steps:begin -->", "<!-- real-flowise-steps:end -->"
MAINS, WORKERS = "flowise", "flowise-worker"
BURST, BURST_MS = 24, 8000
"""A burst the shipped queue signal takes for a surge: 2.4 jobs/s in one 10 s tick, against
the 1 job/s it assumes one worker completes."""
LOAD_MS, LOAD_CLIENTS = 3000, 4
SURGE_MS, SURGE_CLIENTS = 3000, 12
"""The mains' surge: 12 predictions in flight at once (one worker runs 2 at a time, the rest
wait in the queue), against 4 a main."""


class Watch:
    """Polls the queue (0.1 s) and the running workers (as fast as `docker compose ps` allows)
    from `started` on; each time is seconds after the backlog appeared."""

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

    def figures(self) -> tuple[float, float]:
        if None in (self.backlog_at, self.second_worker_at, self.taking_jobs_at):
            raise RuntimeError(
                f"incomplete: backlog {self.backlog_at}, second worker "
                f"{self.second_worker_at}, taking jobs {self.taking_jobs_at}"
            )
        return self.second_worker_at - self.backlog_at, self.taking_jobs_at - self.backlog_at


def burst_with(flowise: RealFlowise, on_backlog) -> tuple[float, float]:
    """A burst of predictions; `on_backlog()` runs the moment the backlog appears."""
    with Watch(flowise) as watch, ThreadPoolExecutor(BURST) as pool:
        answers = [pool.submit(flowise.predict, str(BURST_MS)) for _ in range(BURST)]
        if not watch.backlog_seen.wait(60):
            raise RuntimeError("no backlog within 60 s")
        on_backlog()
        statuses = [a.result().status_code for a in answers]
    if statuses != [200] * BURST:
        raise RuntimeError(f"predictions failed: {statuses}")
    return watch.figures()


def one_worker(flowise: RealFlowise) -> None:
    scaler = wiring.transaction(flowise.stack.settings)
    scaler.scale(WORKERS, 1, scaler.snapshot())
    while flowise.queue() != (0, 0):
        time.sleep(0.5)


def ours_worker_out(flowise: RealFlowise, folder: Path) -> tuple[float, float]:
    services = {MAINS: {}, WORKERS: {"min_replicas": 1, "max_replicas": 2}}
    daemon = Daemon(flowise.daemon_config(folder / "bench-daemon.toml", services))
    try:
        daemon.wait_for(r"tick \(leading", timeout=60)  # it has read the queue once
        return burst_with(flowise, lambda: None)
    finally:
        daemon.stop()
        one_worker(flowise)


def ours_warm_worker_out(flowise: RealFlowise, folder: Path) -> tuple[float, float]:
    """As ours_worker_out, with one warm worker: the daemon fills the pool (starts a worker,
    pauses it once registered) before the burst comes."""
    services = {MAINS: {}, WORKERS: {"min_replicas": 1, "max_replicas": 2, "warm_replicas": 1}}
    daemon = Daemon(flowise.daemon_config(folder / "bench-daemon.toml", services))
    try:
        daemon.wait_for(r"warm and paused", timeout=240)
        time.sleep(3)  # a tick (every 2 s) has seen the pool
        return burst_with(flowise, lambda: None)
    finally:
        daemon.stop()
        drop_warm_pool(flowise)
        one_worker(flowise)


def drop_warm_pool(flowise: RealFlowise) -> None:
    """Remove the paused replicas a daemon left (the next bench step starts without a pool)."""
    docker = wiring.docker_client(flowise.stack.settings)
    snapshot = wiring.transaction(flowise.stack.settings).snapshot()
    paused = [r.id for replicas in snapshot.values() for r in replicas if r.state == "paused"]
    if paused:
        docker.container.unpause(paused)
        docker.container.remove(paused, force=True)


def plain_scale(flowise: RealFlowise, service: str, count: int) -> None:
    """`docker compose up --scale service=count`, as an operator types it."""
    docker = wiring.docker_client(flowise.stack.settings)
    docker.compose.up(services=[service], scales={service: count}, detach=True, recreate=False,
                      dependencies=False, quiet=True)  # fmt: skip


def plain_worker_out(flowise: RealFlowise) -> tuple[float, float]:
    try:
        return burst_with(flowise, lambda: plain_scale(flowise, WORKERS, 2))
    finally:
        one_worker(flowise)


def three_mains(flowise: RealFlowise) -> None:
    scaler = wiring.transaction(flowise.stack.settings)
    outcome = scaler.scale(MAINS, 3, scaler.snapshot())
    if outcome.not_ready:
        raise RuntimeError(f"a third main did not get ready: {outcome}")


def main_in_under_load(flowise: RealFlowise, scale_in) -> tuple[float, int]:
    """From 3 mains, `scale_in()` to 2 while clients predict through nginx: the seconds it took,
    and the predictions that failed."""
    three_mains(flowise)
    with PredictionLoad(flowise, str(LOAD_MS), clients=LOAD_CLIENTS) as load:
        time.sleep(8)
        started = time.monotonic()
        scale_in()
        took = time.monotonic() - started
        time.sleep(2)
    return took, len(load.failures)


def ours_main_in(flowise: RealFlowise) -> tuple[float, int]:
    scaler = wiring.transaction(flowise.stack.settings)
    return main_in_under_load(flowise, lambda: scaler.scale(MAINS, 2, scaler.snapshot()))


def plain_main_in(flowise: RealFlowise) -> tuple[float, int]:
    measured = main_in_under_load(flowise, lambda: plain_scale(flowise, MAINS, 2))
    scaler = wiring.transaction(flowise.stack.settings)
    scaler.reconcile(scaler.snapshot())  # what a hand-made setup does at some point
    return measured


def mains_serving(flowise: RealFlowise, count: int, timeout: float = 300) -> float:
    """Waits until `count` mains each have a request in flight from nginx: the moment."""
    scaler = wiring.transaction(flowise.stack.settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snapshot = scaler.snapshot()
        nginx = next(r for r in snapshot["nginx"] if r.state == "running")
        servers = [f"{r.address_on(nginx.addresses)}:3000" for r in snapshot.get(MAINS, [])
                   if r.state == "running"]  # fmt: skip
        in_flight = scaler.upstream.open_connections(nginx, servers)
        if sum(1 for n in in_flight.values() if n) >= count:
            return time.monotonic()
        time.sleep(0.1)
    states = [(r.name, r.state, r.health) for r in snapshot.get(MAINS, [])]
    raise RuntimeError(f"{count} mains did not serve through nginx within {timeout:.0f}s: {states}")


def surge_mains(flowise: RealFlowise, on_surge) -> float:
    """From 2 mains, a surge of long predictions in flight; `on_surge()` runs as it starts.
    Seconds from the surge's start until a third main serves some of them through nginx."""
    running = flowise.running(MAINS)
    if len(running) != 2:
        print(f"not 2 mains running at the surge's start: {running}", file=sys.stderr)
    with PredictionLoad(flowise, str(SURGE_MS), clients=SURGE_CLIENTS):
        started = time.monotonic()
        on_surge()
        return mains_serving(flowise, 3) - started


def two_mains(flowise: RealFlowise) -> None:
    drop_warm_pool(flowise)
    scaler = wiring.transaction(flowise.stack.settings)
    scaler.scale(MAINS, 2, scaler.snapshot())
    while flowise.queue() != (0, 0):
        time.sleep(0.5)


def ours_main_out(flowise: RealFlowise, folder: Path, warm: int) -> float:
    """The daemon, scaling the mains on nginx's requests in flight (4 a main), `warm` warm."""
    surge = {"kind": "nginx_in_flight", "target_per_replica": SURGE_CLIENTS // 3}
    services = {
        MAINS: {"min_replicas": 2, "max_replicas": 3, "warm_replicas": warm, "signals": [surge]},
        WORKERS: {"min_replicas": 1, "max_replicas": 1},
    }
    daemon = Daemon(flowise.daemon_config(folder / "bench-daemon.toml", services))
    try:
        daemon.wait_for(r"tick \(leading", timeout=60)
        if warm:
            daemon.wait_for(r"warm and paused", timeout=240)
            time.sleep(3)  # a tick (every 2 s) has seen the pool
        return surge_mains(flowise, lambda: None)
    except RuntimeError:
        print("\n".join(daemon.lines[-40:]), file=sys.stderr, flush=True)
        raise
    finally:
        daemon.stop()
        two_mains(flowise)


def plain_main_out(flowise: RealFlowise) -> float:
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
        two_mains(flowise)


def section(
    results: dict[str, list], rounds: int, image: str, seconds: float, marks=(BEGIN, END)
) -> str:
    def median(key: str, index: int) -> str:
        if not results.get(key):
            return "not run"
        return f"{statistics.median(_figures(r)[index] for r in results[key]):.1f}"

    def total(key: str, index: int) -> str:
        return str(sum(r[index] for r in results[key])) if results.get(key) else "not run"

    def starting(key: str) -> str:
        if not results.get(key):
            return "not run"
        return f"{statistics.median(r[1] - r[0] for r in results[key]):.1f}"

    rows = [
        ("worker: backlog appears -> 2nd worker container runs (s)",
         median("out", 0), median("plain_out", 0)),
        ("worker: backlog appears -> 2nd worker takes jobs (s)",
         median("out", 1), median("plain_out", 1)),
        ("worker, 1 warm replica: backlog appears -> 2nd worker takes jobs (s)",
         median("warm_out", 1), median("plain_out", 1)),
        ("main: in-flight surge -> a 3rd main serves through nginx (s)",
         median("main_out", 0), median("plain_main_out", 0)),
        ("main, 1 warm replica: in-flight surge -> a 3rd main serves through nginx (s)",
         median("warm_main_out", 0), median("plain_main_out", 0)),
        ("worker: of which Flowise starting, container runs -> takes jobs (s)",
         starting("out"), starting("plain_out")),
        ("main: drain and remove one of 3 under load (s)", median("in", 0), median("plain_in", 0)),
        (f"main: predictions failed during the {rounds} scale-ins",
         total("in", 1), total("plain_in", 1)),
    ]  # fmt: skip
    setup = (
        f"Written by `python bench/real_flowise.py`; edit that, not this. Run on "
        f"{datetime.date.today().isoformat()} on a 2-core machine, {rounds} rounds each (medians; "
        f"failures summed), {seconds / 60:.0f} minutes in all: the product's stack "
        f"(`compose-flowise init` + `up`) on the local image `{image}` "
        f"(.ci/build-flowise-image) with Postgres, Redis and nginx, WORKER_CONCURRENCY="
        f"{WORKER_CONCURRENCY}, the LLM-free sleep flow. Workers: a burst of {BURST} predictions "
        f"of {BURST_MS / 1000:g} s onto 1 worker. Mains: 3 -> 2 while {LOAD_CLIENTS} clients "
        f"send {LOAD_MS / 1000:g} s predictions through nginx."
    )
    notes = (
        "Ours includes noticing the backlog: the daemon on its shipped defaults reads the queue "
        f"every {DaemonSettings().interval_seconds:g} s, so up to one interval passes before it "
        "acts; the rest is Flowise's own "
        "start (loading its node modules on 2 cores, shared with the running stack: 20 to 50 s "
        "here). Plain compose is started the moment the backlog appears: no operator or cron "
        "job reacts that fast, and someone still has to decide how many workers and when to "
        "remove them. For a main, plain compose stops the replica at once: Flowise exits "
        "without closing its HTTP server and cuts the predictions in flight on it, while "
        "compose-flowise first waits until nginx has none left on it. A warm replica was "
        "started and paused by the daemon before the load came: the scale-out unpauses it "
        "(about a second) instead of starting Flowise. The mains' surge: "
        f"{SURGE_CLIENTS} clients keep predictions in flight through nginx, against "
        f"{SURGE_CLIENTS // 3} a main; plain compose is started the moment the surge starts, "
        "and nginx reloaded the moment its new main is healthy."
    )
    return "\n".join([
        marks[0],
        "## Real Flowise 3.1.4: scaling next to a plain `docker compose up --scale`"
        + ("" if marks == (BEGIN, END) else ", some figures (`--steps`)"),
        "",
        setup,
        "",
        "| figure | compose-flowise | plain `docker compose up --scale` |",
        "|---|--:|--:|",
        *(f"| {name} | {ours} | {plain} |" for name, ours, plain in rows),
        "",
        notes,
        marks[1],
    ])  # fmt: skip


def _figures(result: tuple | float) -> tuple:
    return result if isinstance(result, tuple) else (result,)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", help="comma-separated: only these (default: all)")
    args = parser.parse_args()
    started = time.monotonic()
    image = flowise_image()
    results: dict[str, list] = defaultdict(list)
    with tempfile.TemporaryDirectory() as folder, running_real_flowise(Path(folder)) as flowise:
        steps = {
            "plain_out": lambda: plain_worker_out(flowise),
            "warm_out": lambda: ours_warm_worker_out(flowise, Path(folder)),
            "out": lambda: ours_worker_out(flowise, Path(folder)),
            "plain_main_out": lambda: plain_main_out(flowise),
            "warm_main_out": lambda: ours_main_out(flowise, Path(folder), warm=1),
            "main_out": lambda: ours_main_out(flowise, Path(folder), warm=0),
            "plain_in": lambda: plain_main_in(flowise),
            "in": lambda: ours_main_in(flowise),
        }
        for round_ in range(args.rounds):
            for key, step in steps.items():
                if args.steps and key not in args.steps.split(","):
                    continue
                results[key].append(step())
                print(f"round {round_ + 1}: {key} {results[key][-1]}", file=sys.stderr,
                      flush=True)  # fmt: skip
    # a partial run has a section of its own: the full run's figures stay as published
    marks = (PARTIAL_BEGIN, PARTIAL_END) if args.steps else (BEGIN, END)
    text = section(results, args.rounds, image, time.monotonic() - started, marks)
    write_section(text, *marks)
    print(text)


if __name__ == "__main__":
    main()
