"""nginx's stub_status page: a pure parser of its exact format, and a reader over HTTP."""

from __future__ import annotations

import re

import requests

from autoscaler.metrics import HttpLoad, StubStatus, Unavailable, http_load

_FORMAT = re.compile(
    r"Active connections: (?P<active>\d+)[ \t]*\n"
    r"server accepts handled requests[ \t]*\n"
    r"[ \t]*(?P<accepts>\d+) (?P<handled>\d+) (?P<requests>\d+)[ \t]*\n"
    r"Reading: (?P<reading>\d+) Writing: (?P<writing>\d+) Waiting: (?P<waiting>\d+)[ \t]*\n?"
)


class StubStatusFormatError(ValueError):
    pass


def parse_stub_status(text: str) -> StubStatus:
    match = _FORMAT.fullmatch(text)
    if match is None:
        excerpt = text[:120] + ("..." if len(text) > 120 else "")
        raise StubStatusFormatError(f"not an nginx stub_status page: {excerpt!r}")
    return StubStatus(
        active_connections=int(match["active"]),
        accepts=int(match["accepts"]),
        handled=int(match["handled"]),
        requests=int(match["requests"]),
        reading=int(match["reading"]),
        writing=int(match["writing"]),
        waiting=int(match["waiting"]),
    )


class NginxStubStatus:
    """The stub_status page at `url`, e.g. http://127.0.0.1:8081/nginx_status."""

    def __init__(self, session: requests.Session, url: str, timeout_seconds: float) -> None:
        self.url = url
        self._session = session
        self._timeout = timeout_seconds
        self._previous: tuple[float, StubStatus] | None = None

    def status(self) -> StubStatus | Unavailable:
        try:
            response = self._session.get(self.url, timeout=self._timeout)
        except requests.RequestException as error:
            return Unavailable(f"nginx stub_status at {self.url}: {type(error).__name__}")
        if response.status_code != 200:
            return Unavailable(f"nginx stub_status at {self.url}: HTTP {response.status_code}")
        try:
            return parse_stub_status(response.text)
        except StubStatusFormatError as error:
            return Unavailable(f"nginx stub_status at {self.url}: {error}")

    def load(self, now: float) -> HttpLoad | Unavailable:
        """In-flight requests now, with the request rate since the previous load()."""
        status = self.status()
        if isinstance(status, Unavailable):
            return status
        sample = (now, status)
        load = http_load(self._previous, sample)
        self._previous = sample
        return load
