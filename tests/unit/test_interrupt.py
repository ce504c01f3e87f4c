"""Ctrl-C in a command that waits: exit 130, no traceback. Each command is run as an operator
runs it, and interrupted as a terminal does (SIGINT to its process group: the docker commands
it runs get it too) once it is seen waiting on a server that accepts the connection and never
answers, or on a trace that is never finished."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler import config
from autoscaler.runtime.state import StateFile

COMMAND = Path(sys.executable).with_name("compose-flowise")


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """Accepts connections, and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(60)
        yield server


def config_file(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"[redis]\nurl = 'redis://127.0.0.1:{port}/0'\n"
        f"[nginx]\nstub_status_url = 'http://127.0.0.1:{port}/nginx_status'\n"
        f"upstream_file = '{tmp_path / 'upstream.conf'}'\n"
        f"[daemon]\nstate_file = '{tmp_path / 'state.json'}'\nmetrics_port = 0\n"
    )
    return path


def started(argv: list[str], tmp_path: Path, port: int) -> subprocess.Popen[str]:
    environment = {**os.environ, "DOCKER_HOST": f"tcp://127.0.0.1:{port}"}
    environment.pop(config.ENV_VAR, None)
    return subprocess.Popen([COMMAND, *argv], cwd=tmp_path, env=environment, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)  # fmt: skip


def blocked(pid: int) -> bool:
    """The process sleeps in the kernel (a read, a poll, a wait): past Python's last check for
    signals, so the signal cannot slip in between that check and the call that blocks."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"


def interrupted(process: subprocess.Popen[str]) -> tuple[int, str]:
    while process.poll() is None and not blocked(process.pid):
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


WAITING = {
    "status": ["status"],
    "scale": ["scale", "2", "--service", "flowise-worker"],
    "daemon --once": ["daemon", "--once"],
}


@pytest.mark.parametrize("argv", WAITING.values(), ids=WAITING.keys())
def test_ctrl_c_while_waiting_on_a_server_exits_130(tmp_path, silent_server, argv) -> None:
    port = silent_server.getsockname()[1]
    process = started([*argv, "--config", str(config_file(tmp_path, port))], tmp_path, port)
    connection, _ = silent_server.accept()  # the command is waiting on its answer now
    with connection:
        code, err = interrupted(process)
    assert code == 130, err
    assert "Traceback" not in err
    assert "interrupted" in err.splitlines()[-1]
    assert StateFile(tmp_path / "state.json").read().history("flowise-worker").override is None


def test_ctrl_c_while_simulate_reads_its_trace_exits_130(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    os.mkfifo(trace)
    process = started(["simulate", "--trace", str(trace)], tmp_path, port=1)
    with open(trace, "w") as writer:  # opens once simulate opened it to read
        writer.write("second,arrivals\n0,1\n")
        writer.flush()
        code, err = interrupted(process)
    assert code == 130, err
    assert "Traceback" not in err
