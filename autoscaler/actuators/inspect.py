"""`docker inspect` JSON -> Replica. Purely computational, no I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from autoscaler.actuators.replicas import Replica

_PROJECT_LABELS = "com.docker.compose."


def replica_from_inspect(data: Mapping[str, Any]) -> Replica:
    labels = data["Config"].get("Labels") or {}
    state = data["State"]
    health = state.get("Health")
    networks = data["NetworkSettings"].get("Networks") or {}
    return Replica(
        id=data["Id"],
        name=data["Name"].lstrip("/"),
        service=labels.get(f"{_PROJECT_LABELS}service", ""),
        number=int(labels.get(f"{_PROJECT_LABELS}container-number", 0)),
        state=state["Status"],
        health=health["Status"] if health else None,
        started_at=_timestamp(state.get("StartedAt")),
        addresses={name: net.get("IPAddress", "") for name, net in networks.items()},
    )


def _timestamp(text: str | None) -> datetime:
    """Docker's RFC 3339 time with nanoseconds, e.g. 2026-11-26T12:40:01.123456789Z."""
    if not text:
        return datetime.min.replace(tzinfo=timezone.utc)
    whole, _, fraction = text.rstrip("Z").partition(".")
    micro = (fraction + "000000")[:6]
    return datetime.fromisoformat(f"{whole}.{micro}+00:00")
