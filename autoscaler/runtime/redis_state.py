"""The daemon's state kept in Redis, for the managers of a Swarm: every manager's daemon, its
`scale` and its `status` see the same pins and history, whichever leads. The state is one JSON
value under `redis_keys.state_key`, as `StateFile` keeps it in a file; its locks are Redis locks
with a time-to-live, so a holder that died frees them by itself.

Talks to Redis, and once to the disk: the first use takes a state file kept before over (its
content into Redis, the file renamed), so that no pin the operator had is lost silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import TypeVar

import redis
from pydantic import ValidationError
from redis.lock import Lock

from autoscaler.runtime.redis_keys import (
    actuation_lock_key,
    refill_lock_key,
    state_key,
    state_lock_key,
)
from autoscaler.runtime.state import (
    State,
    StateError,
    StateFile,
    decoded,
    encoded,
    without_impossible_pins,
)

LOCK_SECONDS = 15.0
"""Each lock's time-to-live. Its holder renews it every third of that while its block runs, so
a long action (a scale-out's readiness wait, a scale-in's drain) keeps it; a holder that died,
or lost Redis, frees it at most this long after its last renewal."""
TAKEN_OVER = ".taken-over"
NOT_TAKEN_OVER = ".not-taken-over"

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


class RedisState:
    """The state of `project` in Redis. `state_file`: the file it was kept in before, taken
    over on the first use when Redis has no state yet."""

    def __init__(
        self,
        client: redis.Redis,
        project: str,
        state_file: Path,
        lock_seconds: float = LOCK_SECONDS,
    ) -> None:
        self.key = state_key(project)
        self._client = client
        self._project = project
        self._state_file = state_file
        self._lock_seconds = lock_seconds
        self._checking = threading.Lock()
        self._checked = False

    @property
    def where(self) -> str:
        return f"Redis ({self.key})"

    def read(self) -> State:
        """The saved state; an empty one when there is none yet. StateError when Redis does
        not answer, or holds what is not a state."""
        self._take_over_once()
        data = self._asking(lambda: self._client.get(self.key))
        if data is None:
            return State()
        try:
            return without_impossible_pins(decoded(data), self.where)
        except (ValidationError, ValueError) as error:
            raise StateError(
                f"{self.where}: unreadable state ({error.__class__.__name__}); "
                f"delete the key (redis-cli DEL {self.key}) to start afresh"
            ) from None

    def write(self, state: State) -> None:
        self._take_over_once()
        self._asking(lambda: self._client.set(self.key, encoded(state)))

    def locked(self) -> AbstractContextManager[bool]:
        """Hold the state's lock: one read-modify-write at a time, across managers."""
        self._take_over_once()
        return self._held(state_lock_key(self._project))

    def acting(self, service: str) -> AbstractContextManager[bool]:
        """Hold the right to change `service`'s replicas, on any manager: the daemon's action
        on it or a `scale`; behind nginx, the right to write the upstream too. Held for the
        whole action and renewed meanwhile, so what bounds it is the action's own bounds (the
        readiness and drain timeouts, the docker commands'), as a file lock's; and its holder's
        life: `LOCK_SECONDS` after the holder died or lost Redis, it is free."""
        return self._held(actuation_lock_key(self._project, service))

    def acting_if_free(self, service: str) -> AbstractContextManager[bool]:
        """`acting`, taken only if nobody holds it now: True inside when it was taken."""
        return self._held(actuation_lock_key(self._project, service), wait=False)

    def refilling(self, wait: bool = True) -> AbstractContextManager[bool]:
        """Hold the right to refill the warm pools (`wait=False`: True inside when taken)."""
        return self._held(refill_lock_key(self._project), wait=wait)

    @contextmanager
    def _held(self, name: str, wait: bool = True) -> Iterator[bool]:
        """The Redis lock `name` for the block, renewed every third of its time-to-live by a
        thread of its own until the block ends. With `wait=False`, a lock held elsewhere is not
        waited for: the block runs without it and gets False."""
        lock = Lock(self._client, name, timeout=self._lock_seconds, thread_local=False)
        if not self._asking(lambda: lock.acquire(blocking=wait)):
            yield False
            return
        ended = threading.Event()
        renewal = threading.Thread(
            target=_renew,
            args=(lock, self._lock_seconds / 3, ended),
            name=f"renew {name}",
            daemon=True,  # a process that ends anyhow leaves the lock to its time-to-live
        )
        renewal.start()
        try:
            yield True
        finally:
            ended.set()
            renewal.join()
            with suppress(redis.RedisError):  # not released, it expires by itself
                lock.release()

    def _asking(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except redis.RedisError as error:
            raise StateError(f"{self.where}: no answer ({type(error).__name__}: {error})") from None

    def _take_over_once(self) -> None:
        """On the first use: a state file kept before, taken over if Redis has no state yet
        (under the state's lock, so that no manager's write comes between), and renamed
        either way, with a warning that says which and what pins it had."""
        with self._checking:
            if self._checked:
                return
            if self._state_file.exists():
                with self._held(state_lock_key(self._project)):
                    self._take_over(StateFile(self._state_file).read())
            self._checked = True

    def _take_over(self, kept: State) -> None:
        pins = _pins(kept, time.time())
        if self._asking(lambda: self._client.set(self.key, encoded(kept), nx=True)):
            aside = _renamed(self._state_file, TAKEN_OVER)
            _log.warning(
                "took the state over from %s into %s (%s); the file is now %s",
                self._state_file, self.where, pins, aside,
            )  # fmt: skip
        else:
            aside = _renamed(self._state_file, NOT_TAKEN_OVER)
            _log.warning(
                "%s not taken over: %s had a state already, which is in force; the file's "
                "(%s) is not: `compose-flowise scale` pins again. The file is now %s",
                self._state_file, self.where, pins, aside,
            )  # fmt: skip


def _renew(lock: Lock, every: float, ended: threading.Event) -> None:
    """Reset the lock's time-to-live every `every` seconds until `ended`. Redis away for a
    while is retried; a lock found expired (someone may hold it now) is said, and left."""
    while not ended.wait(every):
        try:
            lock.reacquire()
        except redis.exceptions.LockNotOwnedError:
            _log.warning(
                "the lock %s expired while held (not renewed in time): another may hold it",
                lock.name,
            )
            return
        except redis.RedisError:
            continue


def _pins(state: State, now: float) -> str:
    pinned = [
        f"{service} pinned at {history.override.replicas}"
        for service, history in sorted(state.histories.items())
        if history.override is not None and history.override.active(now)
    ]
    return ", ".join(pinned) or "no pin"


def _renamed(path: Path, suffix: str) -> Path:
    """`path` renamed to its name with `suffix`; left where it is (said) when it cannot be."""
    aside = path.with_name(path.name + suffix)
    try:
        path.rename(aside)
    except OSError as error:
        _log.warning("cannot rename %s to %s (%s): move it aside", path, aside, error.strerror)
        return path
    return aside
