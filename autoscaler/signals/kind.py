"""What every signal kind provides, and what its reader is handed. No I/O here.

A kind is one module with one config model (a pydantic model with a `kind` literal) that
- names itself (`name`, unique within a service) and the source it reads (`source_key`: signals
  with the same key share one read per tick),
- opens its reader from the connections the runtime built (`open_reader`): the reader does the
  I/O, only reads, and may raise: the runtime turns any failure into an `Unavailable`,
- proposes a replica count from what was read (`propose`): pure, like the policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from autoscaler.policy import SignalRule, Unavailable


@dataclass(frozen=True)
class Figure:
    """How one figure of a reading is exported as a Prometheus gauge."""

    metric: str
    """The gauge's name after `compose_flowise_`, ending in its unit as Prometheus names them
    (`_jobs`, `_requests`, `_per_second`, `_seconds`): one gauge never mixes counts and rates."""
    description: str


@runtime_checkable
class Reading(Protocol):
    """What a reader returns: the kind's own data, which can list its figures."""

    FIGURES: ClassVar[Mapping[str, Figure]]
    """Each figure's name (a key of `figures()`) -> how it is exported."""

    def figures(self) -> Mapping[str, float | None]:
        """Name -> value, for `status` and the metrics; None where not known yet."""
        ...


class Reader(Protocol):
    source: str
    """What it talks to (redis, nginx), for the error counts."""
    description: str
    """What it reads, for the error messages: e.g. `nginx stub_status at URL`."""

    def read(self, now: float) -> Reading | Unavailable: ...


@dataclass(frozen=True)
class Connections:
    """The real clients, built in one place (autoscaler.runtime.wiring), and where they point."""

    redis: Any
    """A redis.Redis client."""
    key_prefix: str
    """BullMQ's key prefix."""
    http: Any
    """A requests.Session."""
    stub_status_url: str
    http_timeout_seconds: float
    worker_concurrency: int | None
    """The jobs one Flowise worker runs at once (WORKER_CONCURRENCY in the stack's env file);
    None when the stack does not say."""
    redis_clients: Any = None
    """Redis's CLIENT LIST as every queue reads it at one moment (bullmq_reads.ClientList)."""


class SignalSettings(SignalRule, Protocol):
    """A configured signal of any kind, as the runtime uses it."""

    @property
    def kind(self) -> str: ...

    @property
    def source_key(self) -> str: ...

    def open_reader(self, connections: Connections) -> Reader: ...
