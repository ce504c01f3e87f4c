"""`status` while a daemon runs: answered from the daemon's last tick (fresh), next to the
command's own start (`compose-flowise --help`) and `docker compose version`, timed in turn in
each round, so the machine's load weighs on all alike. Target: the whole command under 0.3 s.

Needs no Docker engine: a real redis-server on loopback holds the lease, and the state file
holds a tick as fresh as a daemon's at its default interval. Replaces the status section of
docs/benchmarks.md and prints it.

Usage: python bench/status.py  (needs the package installed and redis-server on PATH)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from timing import ROUNDS, median_seconds, write_section

from autoscaler import config
from autoscaler.runtime import status, status_report
from autoscaler.runtime.state import ServiceRecord, State, StateFile, TickRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _running_redis

BEGIN, END = "<!-- status:begin -->", "<!-- status:end -->"
TARGET_SECONDS = 0.3
COMMAND = str(Path(sys.executable).with_name("compose-flowise"))


def fresh_tick(state_file: Path) -> None:
    services = {name: ServiceRecord(1, 1, 1, f"{name} 1 -> 1", acted=False)
                for name in ("flowise", "flowise-worker")}  # fmt: skip
    tick = TickRecord(time.time(), "bench:1", True, services)
    StateFile(state_file).write(State(last_tick=tick))


def run(command: list[str], folder: Path) -> float:
    started = time.perf_counter()
    environment = {**os.environ, "XDG_CACHE_HOME": str(folder / "cache")}
    subprocess.run(command, env=environment, check=False, capture_output=True)
    return time.perf_counter() - started


def bench(folder: Path, redis_url: str) -> dict[str, float]:
    """Medians, in seconds."""
    state_file = folder / "state.json"
    config_file = folder / "config.toml"
    config_file.write_text(f'[redis]\nurl = "{redis_url}"\n[daemon]\nstate_file = "{state_file}"\n')
    settings = config.load(config_file, {}).settings
    data = config.snapshot(config.LoadedConfig(settings, str(config_file))).data
    fresh_tick(state_file)
    timed = {
        "status": [COMMAND, "status", "--config", str(config_file)],
        "help": [COMMAND, "--help"],
        "compose": ["docker", "compose", "version"],
    }
    spent: dict[str, list[float]] = {name: [] for name in timed}
    for round_ in range(ROUNDS + 1):
        fresh_tick(state_file)
        for name in list(timed)[:: 1 if round_ % 2 else -1]:
            seconds = run(timed[name], folder)
            if round_:  # the first round warms the disk cache and keeps the config's snapshot
                spent[name].append(seconds)
    figures = {name: statistics.median(values) for name, values in spent.items()}
    figures["in process"] = median_seconds(lambda: status_report.from_fresh_tick(data, time.time()))
    figures["in process, validated"] = median_seconds(lambda: status.gather(settings))
    return figures


def section(figures: dict[str, float]) -> str:
    ms = {name: f"{seconds * 1000:.1f}" for name, seconds in figures.items()}
    met = "met" if figures["status"] < TARGET_SECONDS else "**missed**"
    load = os.getloadavg()[0]
    return "\n".join([
        BEGIN,
        "## `status` while a daemon runs",
        "",
        f"From `python bench/status.py` on {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores "
        f"(load average {load:.1f}); a real redis-server holds the lease and the state file a "
        f"fresh tick; medians of {ROUNDS} rounds, each running the three commands in turn:",
        "",
        "| figure | compose-flowise | baseline, same run |",
        "|---|--:|--:|",
        f"| `status` from a fresh tick, in process (ms) | {ms['in process']} | "
        f"through the validated config and state: {ms['in process, validated']} |",
        f"| `compose-flowise status` from a fresh tick, whole command (ms) | {ms['status']} | "
        f"`compose-flowise --help`: {ms['help']}; `docker compose version`: {ms['compose']} |",
        "",
        f"Target: the whole command under {TARGET_SECONDS * 1000:.0f} ms: {met}. From a fresh "
        "tick `status` reads the config's snapshot (kept when it was last validated, used while "
        "neither the file nor the package changed), the state file as the daemon writes it, "
        "and the lease with one GET over a socket: it imports neither pydantic nor a Redis "
        "client (the redis package alone, which brings asyncio, takes longer to import than "
        "all the rest). Without a fresh tick, or with a state file not as the daemon writes "
        "it, or Redis over TLS, it validates everything and observes once itself, as before.",
        END,
    ])  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, _running_redis(Path(folder), ()) as url:
        text = section(bench(Path(folder), url))
    write_section(text, BEGIN, END)
    print(text)


if __name__ == "__main__":
    main()
