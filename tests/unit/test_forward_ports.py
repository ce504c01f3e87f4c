"""The forwarder `up` runs on a Swarm manager (compose/forward-ports.py): run here, between
sockets of this host, as Python runs it in the stack's Flowise image."""

from __future__ import annotations

import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from autoscaler.shipped import shipped_path

SCRIPT = shipped_path("compose/forward-ports.py")


class Shouting(socketserver.BaseRequestHandler):
    """Answers what it reads in capitals; once the client has said all (half-closed), says
    `bye` and closes."""

    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data.upper())
        self.request.sendall(b"bye")


@pytest.fixture
def server() -> Iterator[int]:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Shouting) as listening:
        threading.Thread(target=listening.serve_forever, daemon=True).start()
        yield listening.server_address[1]
        listening.shutdown()


@pytest.fixture
def forwarded(server: int) -> Iterator[int]:
    """A port of the forwarder's that reaches the server."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), f"{port}=127.0.0.1:{server}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == f"forward-ports: :{port} -> 127.0.0.1:{server}"
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def exchange(port: int, said: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(said)
        connection.shutdown(socket.SHUT_WR)
        heard = b""
        while data := connection.recv(65536):
            heard += data
        return heard


def test_bytes_go_both_ways_and_a_half_closed_connection_still_gets_its_answer(
    forwarded: int,
) -> None:
    assert exchange(forwarded, b"ping") == b"PINGbye"


def test_each_connection_is_forwarded_on_its_own(forwarded: int) -> None:
    said = [f"client {number} ".encode() * 10000 for number in range(4)]
    heard: list[bytes] = [b""] * len(said)

    def one(number: int) -> None:
        heard[number] = exchange(forwarded, said[number])

    threads = [threading.Thread(target=one, args=(number,)) for number in range(len(said))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert heard == [words.upper() + b"bye" for words in said]


def test_a_connection_to_a_target_that_does_not_answer_is_closed_and_said() -> None:
    port, nobody = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, str(SCRIPT), f"{port}=127.0.0.1:{nobody}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None and process.stdout.readline()
        # says nothing: the forwarder may close before a word said could be read (a reset)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            assert connection.recv(65536) == b""
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=10)
    assert f"forward-ports: 127.0.0.1:{nobody}:" in errors


def test_a_spec_it_cannot_read_is_refused_by_name() -> None:
    ran = subprocess.run([sys.executable, str(SCRIPT), "6379-redis"], capture_output=True,
                         text=True, timeout=30, check=False)  # fmt: skip
    assert ran.returncode != 0
    assert "'6379-redis' is not LISTEN_PORT=HOST:PORT" in ran.stderr
