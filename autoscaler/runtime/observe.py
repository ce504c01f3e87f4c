"""The one observe -> decide path: the daemon's tick and `status` both see the stack through it
(and `up` counts replicas with the same `count`). `Sensors.read` and `observe` do I/O only
through the readers and the transaction they are handed; `evaluate` is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import ReplicaCount, Snapshot, count
from autoscaler.config import ServicePolicy
from autoscaler.policy import Decision, Observation, ServiceHistory, Unavailable, decide
from autoscaler.signals import Reader


class Sensors:
    """Every reader the configured signals need, each read once per observation."""

    def __init__(self, readers: Mapping[str, Reader], sources: Mapping[str, str]) -> None:
        """`readers`: source key -> reader; `sources`: signal name -> its source key."""
        self._readers = readers
        self._sources = sources

    @property
    def sources(self) -> frozenset[str]:
        """What the readers talk to (redis, nginx)."""
        return frozenset(reader.source for reader in self._readers.values())

    def read(self, now: float) -> dict[str, object]:
        """Signal name -> its reading, or Unavailable with the reason: a reader that fails, in
        any way, never stops the others and never reads as zero."""
        read = {key: _read_safely(reader, now) for key, reader in self._readers.items()}
        return {signal: read[key] for signal, key in self._sources.items()}


# Enough of a client's error to tell why; its full text can run to a screen (requests').
_DETAIL_CHARACTERS = 160


def _read_safely(reader: Reader, now: float) -> object:
    try:
        return reader.read(now)
    except Exception as error:  # noqa: BLE001 (a failed read is a missing metric, not a crash)
        detail = str(error)[:_DETAIL_CHARACTERS]
        reason = f"{reader.description}: {type(error).__name__}: {detail}"
        return Unavailable(reason, reader.source)


@dataclass(frozen=True)
class Observed:
    """The stack at one moment: what the signals read and which replicas run."""

    at: float
    readings: Mapping[str, object]
    snapshot: Snapshot | None
    docker_error: str | None = None
    sources: frozenset[str] = frozenset()
    """What the signals were read from (redis, nginx); docker, for the replicas, besides."""

    def failed_sources(self) -> set[str]:
        """Each source that failed, once however many signals read it."""
        return set(self.sources_down())

    def sources_down(self) -> dict[str, str]:
        """Each source that could not be read (redis, nginx, docker) -> why (its first reason)."""
        down: dict[str, str] = {}
        for reading in self.readings.values():
            if isinstance(reading, Unavailable):
                down.setdefault(reading.source, reading.reason)
        return down | ({"docker": self.docker_error} if self.docker_error else {})

    def sources_up(self) -> dict[str, bool]:
        """Each source asked, docker included -> whether it answered."""
        down = self.sources_down()
        return {source: source not in down for source in self.sources | {"docker", *down}}

    def errors(self) -> list[str]:
        missing = [
            f"{name}: {r.reason}" for name, r in self.readings.items() if isinstance(r, Unavailable)
        ]
        return missing + ([f"docker: {self.docker_error}"] if self.docker_error else [])


class ReplicaSource(Protocol):
    def current(self) -> Snapshot:
        """The replicas now; raises ActuatorError when the engine cannot be asked."""
        ...

    def invalidate(self) -> None:
        """Something was changed: the next `current` must not answer from memory."""
        ...


class ListedEachTime:
    """The replicas listed afresh at every call (`status`, one-shot commands)."""

    def __init__(self, list_replicas: Callable[[], Snapshot]) -> None:
        self.current = list_replicas

    def invalidate(self) -> None:
        """Nothing is kept between calls."""


def observe(sensors: Sensors, replicas: ReplicaSource, now: float) -> Observed:
    return observed_with(sensors, sensors.read(now), replicas, now)


def observed_with(
    sensors: Sensors, readings: Mapping[str, object], replicas: ReplicaSource, now: float
) -> Observed:
    """The stack as `readings` of `sensors` (taken at `now`) show it, with the replicas listed
    now."""
    try:
        return Observed(now, readings, replicas.current(), sources=sensors.sources)
    except ActuatorError as error:
        return Observed(now, readings, None, str(error), sensors.sources)


@dataclass(frozen=True)
class Evaluation:
    """What one service looks like and what the policy decided for it."""

    replicas: ReplicaCount
    decision: Decision


def evaluate(
    services: Mapping[str, ServicePolicy],
    observed: Observed,
    histories: Mapping[str, ServiceHistory],
    now: float,
) -> dict[str, Evaluation]:
    """Each service's decision; none for any while the replicas are unknown (Docker did not
    answer): a count is never decided from replicas nobody saw."""
    if observed.snapshot is None:
        return {}
    evaluations = {}
    for service, rules in services.items():
        replicas = count(observed.snapshot.get(service, []))
        observation = Observation(replicas.running, replicas.ready, observed.readings)
        history = histories.get(service, ServiceHistory())
        evaluations[service] = Evaluation(
            replicas, decide(service, rules, observation, history, now)
        )
    return evaluations
