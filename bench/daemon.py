"""The daemon's cost: one tick that lists the replicas, one that has no docker event to follow
(the daemon's usual tick), next to one `docker compose ps`; and its idle CPU and memory.

Runs on the real engine with the local images (.ci/build-images), on the e2e stack (nginx,
Redis, one stand-in main, one worker) with nothing to scale, so every tick observes, decides
and reconciles but does not act. Prints medians and the ratio measured in this same run.

Usage: python bench/daemon.py  (needs the package installed and a running Docker engine)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import Stack, free_port, running_stack
from timing import median_seconds

from autoscaler import config
from autoscaler.runtime import wiring

IDLE_SECONDS = 60
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_and_rss(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE")


def idle_daemon(config_file: Path) -> tuple[float, int]:
    """CPU share and resident memory of a daemon on its default interval, for a while."""
    command = Path(sys.executable).with_name("compose-flowise")
    daemon = subprocess.Popen([command, "daemon", "--config", str(config_file)],
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(10)  # started, first ticks done
        cpu_before, _ = cpu_seconds_and_rss(daemon.pid)
        time.sleep(IDLE_SECONDS)
        cpu_after, rss = cpu_seconds_and_rss(daemon.pid)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
    return (cpu_after - cpu_before) / IDLE_SECONDS, rss


def bench(stack: Stack, folder: Path) -> None:
    services = {"flowise-worker": {"min_replicas": 1, "max_replicas": 1}, "flowise": {
        "min_replicas": 1, "max_replicas": 1}}  # fmt: skip
    daemon = {"state_file": str(folder / "state.json"), "metrics_port": free_port()}
    config_file = stack.config_file(folder / "config.toml", daemon=daemon, services=services)
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
    cpu_share, rss = idle_daemon(config_file)
    interval = settings.daemon.interval_seconds
    print(f"one tick, replicas listed and inspected: {listed_seconds * 1000:7.1f} ms  "
          f"(one `docker compose ps`: {ps_seconds * 1000:7.1f} ms)")  # fmt: skip
    print(f"one tick, no docker event since the last: {watched_seconds * 1000:7.1f} ms")
    print(f"idle daemon, {interval:g} s ticks: {cpu_share * 100:6.2f} % of one core, "
          f"{rss / 2**20:6.1f} MiB resident")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, running_stack(Path(folder)) as stack:
        bench(stack, Path(folder))


if __name__ == "__main__":
    main()
