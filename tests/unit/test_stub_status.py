"""nginx stub_status: the exact format, and reading it over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from autoscaler.config import Settings
from autoscaler.policy import Unavailable
from autoscaler.runtime import wiring
from autoscaler.runtime.observe import Sensors
from autoscaler.signals.nginx_stub_status import (
    HttpLoad,
    NginxStubStatus,
    StubStatus,
    StubStatusFormatError,
    parse_stub_status,
)

# As nginx 1.22 prints it: note the trailing spaces on three of the four lines.
RECORDED = (
    "Active connections: 291 \n"
    "server accepts handled requests\n"
    " 16630948 16630948 31070465 \n"
    "Reading: 6 Writing: 179 Waiting: 106 \n"
)


def test_parses_the_recorded_page() -> None:
    assert parse_stub_status(RECORDED) == StubStatus(
        active_connections=291, accepts=16630948, handled=16630948, requests=31070465,
        reading=6, writing=179, waiting=106,
    )  # fmt: skip


GARBAGE = {
    "empty": "",
    "an HTML error page": "<html><body>502 Bad Gateway</body></html>",
    "a line missing": "Active connections: 1 \nReading: 0 Writing: 1 Waiting: 0 \n",
    "a negative number": RECORDED.replace("291", "-291"),
    "trailing garbage": RECORDED + "extra\n",
}


@pytest.mark.parametrize("text", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(StubStatusFormatError, match="not an nginx stub_status page"):
        parse_stub_status(text)


class Page(BaseHTTPRequestHandler):
    body = RECORDED
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()
        self.wfile.write(self.body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def served() -> Iterator[tuple[ThreadingHTTPServer, str]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("P", (Page,), {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/nginx_status"
    server.shutdown()
    server.server_close()


def test_reads_in_flight_and_rate_over_http(served) -> None:
    server, url = served
    source = NginxStubStatus(requests.Session(), url, timeout_seconds=2)
    assert source.read(now=0.0) == HttpLoad(in_flight=184, request_rate=None)
    server.RequestHandlerClass.body = RECORDED.replace("31070465", "31070566")
    assert source.read(now=10.0) == HttpLoad(in_flight=184, request_rate=10.0)


def test_an_error_status_is_unavailable(served) -> None:
    server, url = served
    server.RequestHandlerClass.status = 404
    status = NginxStubStatus(requests.Session(), url, timeout_seconds=2).status()
    assert status == Unavailable(f"nginx stub_status at {url}: HTTP 404", "nginx")


def test_a_page_that_is_not_stub_status_is_unavailable(served) -> None:
    server, url = served
    server.RequestHandlerClass.body = "<html>welcome to nginx</html>"
    status = NginxStubStatus(requests.Session(), url, timeout_seconds=2).status()
    assert isinstance(status, Unavailable)
    assert "not an nginx stub_status page" in status.reason


def test_nginx_down_is_unavailable(unused_port: int) -> None:
    url = f"http://127.0.0.1:{unused_port}/nginx_status"
    source = NginxStubStatus(requests.Session(), url, timeout_seconds=2)
    read = Sensors({"page": source}, {"nginx_in_flight": "page"}).read(now=0.0)
    status = read["nginx_in_flight"]
    assert isinstance(status, Unavailable) and status.source == "nginx"
    assert status.reason.startswith(f"nginx stub_status at {url}: ConnectionError")


def test_the_daemons_session_reads_nginx_past_a_proxy_set_in_its_environment(
    served, unused_port: int, monkeypatch
) -> None:
    """A proxy set for the host's other traffic (HTTP_PROXY in the unit's environment) is not
    the way to the stack's own nginx."""
    _, url = served
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{unused_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    http = wiring.connections(Settings()).http
    assert NginxStubStatus(http, url, timeout_seconds=2).read(now=0.0) == HttpLoad(184, None)
