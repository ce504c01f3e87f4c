"""What a backend (Docker Compose today, Docker Swarm next) does for the scaling transaction.
A protocol only: no I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from autoscaler.actuators.replicas import Replica, Snapshot


class ReplicaBackend(Protocol):
    picks_what_stops: bool
    """A scale-in stops the replicas the backend picks, not victims named to it (a Swarm); they
    finish their requests and jobs by themselves."""

    def replicas(self) -> Snapshot:
        """Every service's replicas in the project, running or not."""
        ...

    def scale_to(self, service: str, count: int) -> None:
        """Bring the service to `count` running replicas, leaving the existing ones untouched:
        warm (paused) ones are unpaused first, and the warm ones left are kept."""
        ...

    def probe(self, replica: Replica) -> None:
        """Run the replica's healthcheck test once now: when it passes, the replica counts
        healthy (fit to route to) until the engine's own probe agrees."""
        ...

    def remove(self, replicas: Sequence[Replica]) -> None:
        """Stop (with each one's grace period) and remove exactly these replicas."""
        ...

    def restart(self, replica: Replica) -> None:
        """Stop (with its grace period) and start again this replica: the same container, or on
        a Swarm, which replaces a stopped task, a new one in its place."""
        ...

    def reaches(self, replica: Replica) -> bool:
        """`execute` can run a command inside it: an engine reaches only its own containers."""
        ...

    def execute(self, replica: Replica, command: Sequence[str]) -> str:
        """Run a command inside a replica; its standard output."""
        ...

    def logs(self, replica: Replica, until: datetime) -> str:
        """What the replica logged (standard output and error) up to `until`."""
        ...
