"""nginx's stub_status page, which the `nginx_*` signal kinds share: a pure parser of its exact
format, and a reader over HTTP through the session it is handed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from autoscaler.policy import Memory, Observation, Proposal, Unavailable
from autoscaler.policy.parameters import Behavior, Strict
from autoscaler.policy.proposals import proportional
from autoscaler.signals.kind import Connections, Figure
from autoscaler.signals.sampling import PreviousSample

SOURCE_KEY = "nginx_stub_status"
"""Every nginx signal reads the same page: once per tick."""

_FORMAT = re.compile(
    r"Active connections: (?P<active>\d+)[ \t]*\n"
    r"server accepts handled requests[ \t]*\n"
    r"[ \t]*(?P<accepts>\d+) (?P<handled>\d+) (?P<requests>\d+)[ \t]*\n"
    r"Reading: (?P<reading>\d+) Writing: (?P<writing>\d+) Waiting: (?P<waiting>\d+)[ \t]*\n?"
)


@dataclass(frozen=True)
class StubStatus:
    """The counters of nginx's stub_status page."""

    active_connections: int
    accepts: int
    handled: int
    requests: int
    reading: int
    writing: int
    waiting: int

    @property
    def in_flight(self) -> int:
        """Requests being read or answered, less the stub_status request that read this."""
        return max(0, self.reading + self.writing - 1)


@dataclass(frozen=True)
class HttpLoad:
    """Requests in flight through nginx now, and requests per second since the previous read."""

    in_flight: int
    request_rate: float | None

    FIGURES: ClassVar[Mapping[str, Figure]] = {
        "in_flight": Figure("nginx_in_flight_requests", "Requests in flight through nginx"),
        "request_rate": Figure(
            "nginx_requests_per_second", "Requests per second through nginx since the previous read"
        ),
    }

    def figures(self) -> Mapping[str, float | None]:
        return {"in_flight": self.in_flight, "request_rate": self.request_rate}


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


def http_load(
    previous: tuple[float, StubStatus] | None, current: tuple[float, StubStatus]
) -> HttpLoad:
    """In-flight requests and the request rate from two timed reads of stub_status.

    Each read is itself a request, so one request per read is not counted. A counter that went
    down means nginx restarted in between: the new count is all that is known of the interval.
    """
    now, status = current
    if previous is None or now <= previous[0]:
        return HttpLoad(status.in_flight, request_rate=None)
    then, before = previous
    served = status.requests - before.requests
    if served < 0:
        served = status.requests
    return HttpLoad(status.in_flight, request_rate=max(0, served - 1) / (now - then))


class NginxStubStatus:
    """The stub_status page at `url`, e.g. http://127.0.0.1:8081/nginx_status."""

    source = "nginx"

    def __init__(self, session: Any, url: str, timeout_seconds: float) -> None:
        self.url = url
        self.description = f"nginx stub_status at {url}"
        self._session = session
        self._timeout = timeout_seconds
        self._previous: PreviousSample[StubStatus] = PreviousSample()

    def status(self) -> StubStatus | Unavailable:
        response = self._session.get(self.url, timeout=self._timeout)
        if response.status_code != 200:
            return Unavailable(f"{self.description}: HTTP {response.status_code}", self.source)
        try:
            return parse_stub_status(response.text)
        except StubStatusFormatError as error:
            return Unavailable(f"{self.description}: {error}", self.source)

    def read(self, now: float) -> HttpLoad | Unavailable:
        """In-flight requests now, with the request rate since the previous read."""
        status = self.status()
        if isinstance(status, Unavailable):
            return status
        return http_load(self._previous.swap(now, status), (now, status))


class NginxSignal(Strict):
    """What the nginx kinds share: they read the one stub_status page, and size the service
    for one of its figures at a target per ready replica (the HPA's average-value rule)."""

    kind: str
    target_per_replica: float = Field(gt=0, description="The figure one ready replica should "
                                      "carry on average.")  # fmt: skip
    unit: ClassVar[str]

    @property
    def name(self) -> str:
        return self.kind

    @property
    def source_key(self) -> str:
        return SOURCE_KEY

    def open_reader(self, connections: Connections) -> NginxStubStatus:
        return NginxStubStatus(
            connections.http, connections.stub_status_url, connections.http_timeout_seconds
        )

    def figure(self, load: HttpLoad) -> float | None:
        """The figure this kind sizes for; None while it is not known."""
        raise NotImplementedError

    def propose(
        self, observation: Observation, behavior: Behavior, memory: Memory | None, now: float
    ) -> Proposal:
        reading = observation.readings.get(self.name, Unavailable("not read"))
        if not isinstance(reading, HttpLoad):
            reason = reading.reason if isinstance(reading, Unavailable) else repr(reading)
            return Proposal(self.name, None, f"unavailable: {reason}")
        value = self.figure(reading)
        if value is None:
            return Proposal(self.name, None, "unavailable: the rate needs a second read")
        return proportional(
            self.name, value, self.unit, self.target_per_replica, observation, behavior
        )
