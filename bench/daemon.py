"""The daemon's cost: one tick that lists the replicas, one that has no docker event to follow
(the daemon's usual tick), next to one `docker compose ps`; and its idle CPU and memory, its
own and with the docker commands it runs, next to the same daemon with its deaf-main watch off.

Runs on the real engine with the local images (.ci/build-images), on the e2e stack (nginx,
Redis, two stand-in mains as shipped, so that the deaf-main watch has mains to compare, one
worker) with nothing to scale, so every tick observes, decides and reconciles but does not act.
Prints medians and the ratio measured in this same run.

Usage: python bench/daemon.py  (needs the package installed and a running Docker engine)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import Stack, free_port, running_stack, wait_until_routable
from timing import median_seconds

from autoscaler import config
from autoscaler.runtime import wiring

IDLE_SECONDS = 60
MAINS = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Idle:
    own: float
    """Share of one core: the daemon process's own CPU time."""
    with_commands: float
    """Share of one core: with the docker commands it ran (and waited for)."""
    rss: int


def cpu_seconds_and_rss(pid: int) -> tuple[float, float, int]:
    """(own CPU s, with its children's, resident bytes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    children = (int(fields[13]) + int(fields[14])) / CLOCK_TICKS  # cutime + cstime
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return own, own + children, rss_pages * os.sysconf("SC_PAGE_SIZE")


def idle_daemon(config_file: Path) -> Idle:
    """CPU shares and resident memory of a daemon on its default interval, for a while."""
    command = Path(sys.executable).with_name("compose-flowise")
    daemon = subprocess.Popen([command, "daemon", "--config", str(config_file)],
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(10)  # started, first ticks done
        own_before, all_before, _ = cpu_seconds_and_rss(daemon.pid)
        time.sleep(IDLE_SECONDS)
        own_after, all_after, rss = cpu_seconds_and_rss(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    return Idle((own_after - own_before) / IDLE_SECONDS, (all_after - all_before) / IDLE_SECONDS,
                rss)  # fmt: skip


def bench(stack: Stack, folder: Path) -> None:
    stack.docker.compose.up(scales={"flowise": MAINS}, detach=True, quiet=True)
    wait_until_routable(stack.scaler(), MAINS)
    services = {"flowise-worker": {"min_replicas": 1, "max_replicas": 1}, "flowise": {
        "min_replicas": MAINS, "max_replicas": MAINS}}  # fmt: skip
    daemon = {"state_file": str(folder / "state.json"), "metrics_port": free_port()}
    config_file = stack.config_file(folder / "config.toml", daemon=daemon, services=services)
    unwatched = stack.config_file(folder / "unwatched.toml", daemon=daemon, services=services,
                                  deaf_mains={"enabled": False})  # fmt: skip
    settings = config.load(config_file, {}).settings
    listing = wiring.autoscaler(settings, dry_run=False)
    watch = wiring.replica_watch(settings)
    watch.start()
    watched = wiring.autoscaler(settings, dry_run=False, replicas=watch)
    listing.tick(), watched.tick()  # the rates need a first read; the watch its first listing
    listed_seconds = median_seconds(listing.tick)
    watched_seconds = median_seconds(watched.tick)
    watch.close()
    ps_seconds = median_seconds(lambda: stack.docker.compose.ps())
    idle, baseline = idle_daemon(config_file), idle_daemon(unwatched)
    interval = settings.daemon.interval_seconds
    print(f"one tick, replicas listed and inspected: {listed_seconds * 1000:7.1f} ms  "
          f"(one `docker compose ps`: {ps_seconds * 1000:7.1f} ms)")  # fmt: skip
    print(f"one tick, no docker event since the last: {watched_seconds * 1000:7.1f} ms")
    for name, figures in (("idle daemon", idle), ("idle daemon, deaf-main watch off", baseline)):
        print(f"{name}, {interval:g} s ticks: {figures.own * 100:6.2f} % of one core, "
              f"{figures.with_commands * 100:6.2f} % with its docker commands, "
              f"{figures.rss / 2**20:6.1f} MiB resident")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, running_stack(Path(folder)) as stack:
        bench(stack, Path(folder))


if __name__ == "__main__":
    main()
