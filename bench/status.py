"""`status` while a daemon runs: answered from the daemon's last tick (fresh), next to the
command's own start (`compose-flowise --help`) and `docker compose version`, all in this run.

Needs no Docker engine: a real redis-server on loopback holds the lease, and the state file
holds a tick as fresh as a daemon's at its default interval. Prints medians.

Usage: python bench/status.py  (needs the package installed and redis-server on PATH)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import median_seconds

from autoscaler import config
from autoscaler.runtime import status
from autoscaler.runtime.state import ServiceRecord, State, StateFile, TickRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _running_redis

COMMAND = Path(sys.executable).with_name("compose-flowise")


def run(*command: object) -> None:
    subprocess.run([str(part) for part in command], check=False, capture_output=True)


def fresh_tick(state_file: Path) -> None:
    services = {name: ServiceRecord(1, 1, 1, f"{name} 1 -> 1", acted=False)
                for name in ("flowise", "flowise-worker")}  # fmt: skip
    tick = TickRecord(time.time(), "bench:1", True, services)
    StateFile(state_file).write(State(last_tick=tick))


def bench(folder: Path, redis_url: str) -> None:
    state_file = folder / "state.json"
    config_file = folder / "config.toml"
    config_file.write_text(f'[redis]\nurl = "{redis_url}"\n[daemon]\nstate_file = "{state_file}"\n')
    settings = config.load(config_file, {}).settings
    fresh_tick(state_file)
    gather = median_seconds(lambda: status.gather(settings))
    command = median_seconds(
        lambda: (fresh_tick(state_file), run(COMMAND, "status", "--config", config_file))
    )
    start = median_seconds(lambda: run(COMMAND, "--help"))
    compose = median_seconds(lambda: run("docker", "compose", "version"))
    print(f"status from a fresh tick, in process: {gather * 1000:7.1f} ms")
    print(f"`compose-flowise status` from a fresh tick: {command * 1000:7.1f} ms "
          f"(`compose-flowise --help`: {start * 1000:7.1f} ms, "
          f"`docker compose version`: {compose * 1000:7.1f} ms)")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, _running_redis(Path(folder), ()) as url:
        bench(Path(folder), url)


if __name__ == "__main__":
    main()
