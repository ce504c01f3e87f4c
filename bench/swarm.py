"""The stack on a three-node Docker Swarm (tests/e2e/swarm_site.py: the shipped swarm.yaml, its
mains draining on SIGTERM), next to the same measures on one host (tests/e2e/harness.py's
Compose stack), both in this run, with the stand-in Flowise:

- reaction: from a surge of requests (12 clients holding 2-4 s, 4 per main wanted) until a new
  main takes one through nginx, the daemon deciding on nginx's requests in flight (a tick a
  second); the median of 3 rounds, each from one main;
- scale cycles: the mains 1 -> 3 -> 1 ten times by `compose-flowise scale`, under load (6
  clients holding 1-2 s), the daemon keeping the upstream in between: the requests that failed;
- stale upstream: meanwhile, sampled without pause, the longest a main stayed in nginx's
  upstream once it was no longer among the backend's replicas (Swarm: a task it no longer wants
  running; Compose: a container that no longer runs), against the daemon's tick.

Writes the section between <!-- swarm:begin --> and <!-- swarm:end --> of docs/benchmarks.md.

Usage: python bench/swarm.py  (the package installed, a running Docker engine, the local images
of .ci/build-images)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import Daemon, Load, run_cli, running_stack, upstream_servers
from swarm_site import site_cluster, site_folder
from timing import write_section

from autoscaler.config import Settings
from autoscaler.runtime import wiring

BEGIN, END = "<!-- swarm:begin -->", "<!-- swarm:end -->"
REACTION_ROUNDS = 3
CYCLES = 10
TICK_SECONDS = 1
SURGE = {
    "min_replicas": 1,
    "max_replicas": 3,
    "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}],
}


@dataclass
class Site:
    """What the measures need of a stack, on either backend."""

    name: str
    settings: Settings
    http_url: str
    daemon_config: Callable[[Path, dict], Path]
    """(a folder, the services' config) -> a daemon's config file there: a tick a second."""


@dataclass(frozen=True)
class Reaction:
    """Seconds from a surge's first requests until..."""

    made: float
    """a new main is among the backend's replicas (decided, and made by the engine or Swarm);"""
    routed: float
    """the upstream lists it (fit);"""
    served: float
    """it took a request through nginx."""


@dataclass
class Figures:
    reactions: list[Reaction] = field(default_factory=list)
    answers: int = 0
    failures: list[str] = field(default_factory=list)
    stale_seconds: float = 0.0
    samples: int = 0


def reaction(site: Site, folder: Path) -> Reaction:
    scaler = wiring.transaction(site.settings)
    scaler.scale("flowise", 1, scaler.snapshot())
    before = hostnames_answering(site.http_url)
    daemon = Daemon(site.daemon_config(folder, {"flowise": SURGE, "flowise-worker": False}))
    seen: dict[str, float] = {}
    try:
        daemon.wait_for(r"tick \(leading")
        with Load(site.http_url, hold_ms=2000, spread_ms=2000, clients=12) as surge:
            started = time.monotonic()
            while not (new := [a for a in surge.answers if a.hostname not in before | {None}]):
                if time.monotonic() - started > 180:
                    raise RuntimeError(f"{site.name}: no new main took a request in 180 s")
                if len(scaler.snapshot().get("flowise", [])) > 1:
                    seen.setdefault("made", time.monotonic())
                if len(upstream_servers(site.settings.nginx.upstream_file)) > 1:
                    seen.setdefault("routed", time.monotonic())
    finally:
        daemon.stop()
    served = min(answer.started for answer in new)
    return Reaction(*(seen.get(step, served) - started for step in ("made", "routed")),
                    served=served - started)  # fmt: skip


def hostnames_answering(url: str) -> set[str]:
    answers = [requests.post(f"{url}/hold?ms=0", timeout=10).json() for _ in range(10)]
    return {answer["hostname"] for answer in answers}


def cycles(site: Site, folder: Path, figures: Figures) -> None:
    """Pinned by `compose-flowise scale`, as an operator would: it holds the service while it
    acts, so the daemon keeps the upstream only in between."""
    scaler = wiring.transaction(site.settings)
    scaler.scale("flowise", 1, scaler.snapshot())
    config = site.daemon_config(folder, {"flowise": SURGE, "flowise-worker": False})
    daemon = Daemon(config)
    try:
        daemon.wait_for(r"tick \(leading")
        with (
            watching_upstream(site, figures),
            Load(site.http_url, hold_ms=1000, spread_ms=1000, clients=6, max_seconds=900) as load,
        ):
            for _ in range(CYCLES):
                for count in (3, 1):
                    scaled = run_cli("scale", f"flowise={count}", "--config", str(config))
                    if scaled.returncode != 0:
                        raise RuntimeError(f"scale flowise={count}: {scaled.stderr}")
            time.sleep(10)  # past the last drain
    finally:
        daemon.stop()
    figures.answers = len(load.answers)
    figures.failures = [f"{a.status} {a.error or ''}".strip() for a in load.failures]


@contextmanager
def watching_upstream(site: Site, figures: Figures) -> Iterator[None]:
    """Samples, until the block ends, the mains the upstream lists that the backend no longer
    reports; keeps the longest stretch one stayed listed in `figures`."""
    done = threading.Event()
    thread = threading.Thread(target=_watch, args=(site, figures, done), daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _watch(site: Site, figures: Figures, done: threading.Event) -> None:
    scaler = wiring.transaction(site.settings)
    stale_since: dict[str, float] = {}
    while not done.is_set():
        read_at = time.monotonic()
        replicas = scaler.snapshot().get("flowise", [])
        present = {f"{r.address_on(r.addresses)}:3000" for r in replicas if r.state == "running"}
        listed = upstream_servers(site.settings.nginx.upstream_file)
        now = time.monotonic()
        for server in list(stale_since):
            if server not in listed:
                figures.stale_seconds = max(figures.stale_seconds, now - stale_since.pop(server))
        for server in listed - present:
            stale_since.setdefault(server, read_at)
        figures.samples += 1
    for since in stale_since.values():
        figures.stale_seconds = max(figures.stale_seconds, time.monotonic() - since)


def measure(site: Site, folder: Path) -> Figures:
    figures = Figures()
    for round_number in range(REACTION_ROUNDS):
        figures.reactions.append(reaction(site, folder / f"reaction-{round_number}"))
        print(f"{site.name}: {figures.reactions[-1]}", file=sys.stderr)
    cycles(site, folder / "cycles", figures)
    print(f"{site.name}: {figures.answers} answers, {len(figures.failures)} failed, "
          f"stale upstream {figures.stale_seconds:.1f} s", file=sys.stderr)  # fmt: skip
    return figures


def on_one_host(folder: Path) -> Figures:
    with running_stack(folder / "stack") as stack:

        def config(where: Path, services: dict) -> Path:
            where.mkdir(parents=True, exist_ok=True)
            daemon = {"interval_seconds": TICK_SECONDS, "state_file": str(where / "state.json"),
                      "metrics_port": 0}  # fmt: skip
            return stack.config_file(where / "config.toml", daemon=daemon, services=services)

        return measure(Site("compose", stack.settings, stack.http_url, config), folder)


def on_the_swarm(folder: Path) -> Figures:
    with (
        site_cluster(folder / "cluster") as cluster,
        mock.patch.dict(os.environ, {"DOCKER_HOST": cluster.docker_host}),  # as on a manager
        site_folder(cluster) as swarm,
    ):
        up = swarm.cli("up")
        if up.returncode != 0:
            raise RuntimeError(f"compose-flowise up failed: {up.stdout}{up.stderr}")

        def config(where: Path, services: dict) -> Path:
            where.mkdir(parents=True, exist_ok=True)
            return swarm.daemon_config(where, services)

        url = f"http://127.0.0.1:{swarm.http_port}"
        return measure(Site("swarm", swarm.settings, url, config), folder)


REACTION_STEPS = (
    ("made", "a new main among the replicas (decided, made)"),
    ("routed", "it is fit and in the upstream"),
)


def report(one_host: Figures, swarm: Figures) -> str:
    served, served_one = _median(swarm, "served"), _median(one_host, "served")
    return "\n".join([
        BEGIN,
        "## On a three-node Swarm: the targets of issue #15, next to one host",
        "",
        "`python bench/swarm.py`: the shipped swarm.yaml deployed by `up` on three Docker engines",
        "in containers (tests/e2e/swarm_site.py), the stand-in Flowise; the same measures on one",
        "host with Compose (tests/e2e/stack.yaml) in the same run. A tick a second.",
        "",
        "| | Swarm, 3 nodes | one host (Compose) | target |",
        "|---|---|---|---|",
        *(f"| surge -> {what} (median of {REACTION_ROUNDS}) | {_median(swarm, step):.1f} s | "
          f"{_median(one_host, step):.1f} s | |" for step, what in REACTION_STEPS),
        f"| surge -> a new main takes a request (each round) | {served:.1f} s "
        f"({_each(swarm)}) | {served_one:.1f} s ({_each(one_host)}) | "
        f"<= 1.5x one host: {served / served_one:.2f}x |",
        f"| failed requests over {CYCLES} cycles 1 -> 3 -> 1 mains by `scale`, under load | "
        f"{len(swarm.failures)} of {swarm.answers} | {len(one_host.failures)} of "
        f"{one_host.answers} | 0 |",
        f"| longest a gone main stayed in the upstream ({swarm.samples} and {one_host.samples} "
        f"samples) | {swarm.stale_seconds:.1f} s | {one_host.stale_seconds:.1f} s | "
        f"<= one tick ({TICK_SECONDS} s) |",
        "",
        "A sample reads the backend's replicas, then the upstream file: a stretch counts from the",
        "read that no longer found the main, so it includes up to one read's time (Swarm: `docker",
        "stack ps` and an inspect of each task, about 0.3-0.5 s).",
        "",
        "Between made and fit a Swarm task is `preparing` (its node's engine creates the",
        "container; these test nodes' engines use overlay2, where vfs took about 20 s to copy the",
        "image) and then `starting` until its first healthcheck, which Docker runs one interval",
        "(5 s in swarm.yaml) after the start. The daemon does not wait for that one: as on one host,",
        "it runs a new main's healthcheck itself every 0.5 s, on a Swarm from `<project>_local-ports`",
        "at the task's address, since the task may run on a node whose engine it does not reach.",
        END,
    ])  # fmt: skip


def _median(figures: Figures, step: str) -> float:
    return statistics.median(getattr(reaction, step) for reaction in figures.reactions)


def _each(figures: Figures) -> str:
    return ", ".join(f"{reaction.served:.1f}" for reaction in figures.reactions)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        one_host = on_one_host(Path(folder) / "one-host")
        swarm = on_the_swarm(Path(folder) / "swarm")
    text = report(one_host, swarm)
    print(text)
    write_section(text, BEGIN, END)


if __name__ == "__main__":
    main()
