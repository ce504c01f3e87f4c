"""compose/drain-on-sigterm.sh with real processes and sockets: a stop request reaches the
process it runs only once nothing is connected to its port any more."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from autoscaler.shipped import shipped_path

# Listens on the port; on SIGTERM writes the file `stopped` and exits 7.
SERVER = """
import pathlib, signal, socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
def stop(*_):
    pathlib.Path(sys.argv[2]).write_text("stopped")
    sys.exit(7)
signal.signal(signal.SIGTERM, stop)
while True:
    connection, _ = listener.accept()
"""


@contextmanager
def wrapped_server(tmp_path: Path, port: int, timeout_seconds: int = 60) -> Iterator:
    stopped = tmp_path / "stopped"
    env = {**os.environ, "DRAIN_PORT": str(port), "DRAIN_SETTLE_SECONDS": "1",
           "DRAIN_TIMEOUT_SECONDS": str(timeout_seconds)}  # fmt: skip
    wrapper = subprocess.Popen(
        ["sh", str(shipped_path("compose/drain-on-sigterm.sh")),
         sys.executable, "-c", SERVER, str(port), str(stopped)],
        env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        until(lambda: _accepts(port), "the server listens")
        yield wrapper, stopped
    finally:
        wrapper.kill()
        wrapper.wait()


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def until(condition, what: str, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds:g}s: {what}")
        time.sleep(0.1)


def test_the_process_is_stopped_only_once_its_last_connection_closed(
    tmp_path: Path, unused_port: int
) -> None:
    with wrapped_server(tmp_path, unused_port) as (wrapper, stopped):
        client = socket.create_connection(("127.0.0.1", unused_port))
        wrapper.send_signal(signal.SIGTERM)
        time.sleep(4)  # past the settle time and two reads: the connection holds the stop
        assert not stopped.exists() and wrapper.poll() is None
        client.close()
        assert wrapper.wait(timeout=15) == 7, "the process's own exit status"
        assert stopped.exists()
        assert "drained after" in wrapper.stderr.read()


def test_a_connection_that_never_closes_holds_the_stop_no_longer_than_the_timeout(
    tmp_path: Path, unused_port: int
) -> None:
    with wrapped_server(tmp_path, unused_port, timeout_seconds=3) as (wrapper, stopped):
        client = socket.create_connection(("127.0.0.1", unused_port))
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(timeout=15) == 7
        assert stopped.exists()
        client.close()


def test_sigint_drains_and_stops_the_process_too(tmp_path: Path, unused_port: int) -> None:
    with wrapped_server(tmp_path, unused_port) as (wrapper, stopped):
        wrapper.send_signal(signal.SIGINT)
        assert wrapper.wait(timeout=15) == 7
        assert stopped.exists()


def test_a_process_that_ends_by_itself_ends_the_wrapper_with_its_status(tmp_path: Path) -> None:
    wrapper = subprocess.run(
        ["sh", str(shipped_path("compose/drain-on-sigterm.sh")), "sh", "-c", "exit 3"],
        timeout=15,
    )
    assert wrapper.returncode == 3
