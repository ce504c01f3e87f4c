"""The daemon's memory across restarts: each service's policy history (manual overrides
included) and a record of the last tick, as JSON. `StateStore` is what its users need of where
it is kept: `StateFile`, one file on this host (Compose), talks to the disk only;
`runtime/redis_state.py` keeps it in Redis, for the managers of a Swarm.

`compose-flowise scale` and the daemon both change it, so every read-modify-write holds an
exclusive lock (here, on a file beside it).
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from autoscaler.errors import OperatorError
from autoscaler.files import PRIVATE, write_atomically
from autoscaler.policy import ServiceHistory

ReplicaView = tuple[str, str, str | None, str]
"""A replica as `status` shows it: name, state, health, node (empty on Compose)."""


@dataclass(frozen=True)
class ServiceRecord:
    """What one tick saw and did for one service, for `status`."""

    current: int
    ready: int
    desired: int
    explanation: str
    acted: bool
    error: str | None = None
    replicas: tuple[ReplicaView | tuple[str, str, str | None], ...] = ()
    """(name, state, health, node) of each replica; without the node as written before there
    were Swarm nodes to show."""
    plan: tuple[str, ...] = ()
    """What the scaling action decided does, step by step (also in a dry run)."""
    in_progress: str | None = None
    """The service's action still running (started at an earlier tick), and since when: no
    other starts on it meanwhile."""


@dataclass(frozen=True)
class DeafMainEvent:
    """A main found healthy but answering no request, and what was done about it."""

    at: float
    service: str
    replica: str
    reason: str
    action: str
    """`restarted`, or `restart failed: ...`."""


DEAF_MAINS_KEPT_SECONDS = 24 * 3600
_DEAF_MAINS_KEPT = 20


def recent_deaf_mains(events: Iterable[DeafMainEvent], now: float) -> tuple[DeafMainEvent, ...]:
    """The last day's events, at most the last 20: what `status` and `doctor` show."""
    recent = [e for e in events if now - e.at <= DEAF_MAINS_KEPT_SECONDS]
    return tuple(recent[-_DEAF_MAINS_KEPT:])


@dataclass(frozen=True)
class TickRecord:
    at: float
    holder: str
    """Who ran the tick (host:pid) and whether it held the lease."""
    leading: bool
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    readings: Mapping[str, Mapping[str, float | None] | str] = field(default_factory=dict)
    """Signal name -> its figures, or why it could not be read."""
    deaf_mains: tuple[DeafMainEvent, ...] = ()
    """The mains this tick found deaf, and what it did."""
    down: Mapping[str, str] = field(default_factory=dict)
    """Each source that could not be read (redis, nginx, docker) -> why."""


@dataclass(frozen=True)
class Hold:
    """The daemon keeps every count as it is and acts on nothing: another process (an
    `upgrade`) is changing the replicas. It ends at `until` even if its holder died; its
    holder ends it by setting `until` to that moment, and it stays in the state so that a
    plan made before then is known to be stale."""

    reason: str
    until: float

    def active(self, now: float) -> bool:
        return now < self.until


@dataclass(frozen=True)
class State:
    histories: dict[str, ServiceHistory] = field(default_factory=dict)
    last_tick: TickRecord | None = None
    deaf_mains: tuple[DeafMainEvent, ...] = ()
    """The deaf mains of the last day (`recent_deaf_mains`)."""
    hold: Hold | None = None

    def held(self, now: float) -> Hold | None:
        """The hold in force now, if any."""
        return self.hold if self.hold is not None and self.hold.active(now) else None

    def history(self, service: str) -> ServiceHistory:
        return self.histories.get(service, ServiceHistory())

    def with_history(self, service: str, history: ServiceHistory) -> State:
        return replace(self, histories={**self.histories, service: history})

    def with_deaf_mains(self, events: Iterable[DeafMainEvent], now: float) -> State:
        """`events` added to the deaf mains kept, the old ones dropped."""
        return replace(self, deaf_mains=recent_deaf_mains((*self.deaf_mains, *events), now))


class StateError(OperatorError):
    pass


_FORMAT = TypeAdapter(State)
_log = logging.getLogger(__name__)


class StateStore(Protocol):
    """Where the state is kept, and its locks: what the daemon, `scale`, `status` and `doctor`
    need of it. Each lock is held for a `with` block; none is taken twice by one holder."""

    @property
    def where(self) -> str:
        """Where it is, for messages: a path, or a Redis key."""
        ...

    def read(self) -> State:
        """The saved state; an empty one when there is none yet. StateError when it cannot
        be read."""
        ...

    def write(self, state: State) -> None: ...

    def locked(self) -> AbstractContextManager[bool]:
        """Hold the state's lock: one read-modify-write at a time, across processes."""
        ...

    def acting(self, service: str) -> AbstractContextManager[bool]:
        """Hold the right to change `service`'s replicas: the daemon's action on it or a
        `scale`. For the service behind nginx, the right to write the upstream too."""
        ...

    def acting_if_free(self, service: str) -> AbstractContextManager[bool]:
        """`acting`, taken only if nobody holds it now: True inside when it was taken."""
        ...

    def refilling(self, wait: bool = True) -> AbstractContextManager[bool]:
        """Hold the right to refill the warm pools (`wait=False`: True inside when taken)."""
        ...


class StateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def where(self) -> str:
        return str(self.path)

    def read(self) -> State:
        """The saved state; an empty one when there is none yet."""
        try:
            return without_impossible_pins(
                _FORMAT.validate_json(self.path.read_bytes()), str(self.path)
            )
        except FileNotFoundError:
            return State()
        except (OSError, ValidationError, ValueError) as error:
            raise StateError(
                f"{self.path}: unreadable state ({error.__class__.__name__}); "
                "move it aside to start afresh"
            ) from None

    def write(self, state: State) -> None:
        write_atomically(self.path, encoded(state), PRIVATE)

    def locked(self) -> AbstractContextManager[bool]:
        """Hold the state's lock: one read-modify-write at a time, across processes."""
        return exclusive(self.path.with_name(self.path.name + ".lock"))

    def acting(self, service: str) -> AbstractContextManager[bool]:
        """Hold the right to change `service`'s replicas on this host: the daemon's action on
        it or a `scale`. For the service behind nginx, the right to write the upstream too."""
        return exclusive(self._actuation_lock(service))

    def acting_if_free(self, service: str) -> AbstractContextManager[bool]:
        """`acting`, taken only if nobody holds it now: True inside when it was taken."""
        return exclusive(self._actuation_lock(service), wait=False)

    def refilling(self, wait: bool = True) -> AbstractContextManager[bool]:
        """Hold the right to refill the warm pools: the daemon's refill holds it while it warms
        replicas (not the actuation locks: a scale-out must never wait for a warm-up), an
        upgrade takes it to wait for a refill in progress to end."""
        return exclusive(self.path.with_name("warm-refill.lock"), wait=wait)

    def _actuation_lock(self, service: str) -> Path:
        return self.path.with_name(f"actuation.{service}.lock")


def encoded(state: State) -> bytes:
    """The state as JSON, as every store keeps it."""
    return _FORMAT.dump_json(state, indent=1)


def decoded(data: bytes | str) -> State:
    """The state from its JSON; ValidationError or ValueError when it is not one."""
    return _FORMAT.validate_json(data)


def without_impossible_pins(state: State, where: str) -> State:
    """A pin whose end is no date (beyond the year 9999, not a number) is dropped, with a
    warning, so that it cannot make every reader of the state fail."""
    for service, history in state.histories.items():
        override = history.override
        if override is None or override.until is None or _is_a_date(override.until):
            continue
        _log.warning(
            "%s: %s's pin at %d ends at no possible date (%s): ignored; "
            "`compose-flowise scale` sets a new one",
            where, service, override.replicas, override.until,
        )  # fmt: skip
        state = state.with_history(service, history.with_override(None))
    return state


def _is_a_date(timestamp: float) -> bool:
    try:
        datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, ValueError, OSError):
        return False
    return True


@contextmanager
def exclusive(lock_path: Path, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on `lock_path` (flock), across processes and threads (each holder
    opens the file), for the `with` block. With `wait=False`, a lock held elsewhere is not
    waited for: the block runs without it and gets False."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
