"""The Redis key of a compose project's lease: the one `runtime/lease.py` takes and renews, and
`status` reads. Light to import, as `status` from a fresh tick imports no Redis client."""

from __future__ import annotations


def lease_key(project: str) -> str:
    return f"compose-flowise:lease:{project}"
