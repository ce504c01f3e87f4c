"""The Redis keys compose-flowise keeps of a compose project, all under `compose-flowise:`: the
lease `runtime/lease.py` takes and renews, the state `runtime/redis_state.py` keeps on a Swarm
and its locks; `status` reads the first two. Light to import, as `status` from a fresh tick
imports no Redis client."""

from __future__ import annotations

_PREFIX = "compose-flowise"


def lease_key(project: str) -> str:
    return f"{_PREFIX}:lease:{project}"


def state_key(project: str) -> str:
    """The daemon's state (`runtime/state.py`'s State, as JSON) on a Swarm."""
    return f"{_PREFIX}:state:{project}"


def state_lock_key(project: str) -> str:
    """One read-modify-write of the state at a time."""
    return f"{_PREFIX}:state-lock:{project}"


def actuation_lock_key(project: str, service: str) -> str:
    """The right to change `service`'s replicas (and, behind nginx, the upstream)."""
    return f"{_PREFIX}:actuation-lock:{project}:{service}"


def refill_lock_key(project: str) -> str:
    """The right to refill the warm pools."""
    return f"{_PREFIX}:refill-lock:{project}"
