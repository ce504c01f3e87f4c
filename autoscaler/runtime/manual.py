"""`compose-flowise scale`: pin a count by hand, act on it now, or hand control back.

Acts through the same scaler and nginx transaction as the daemon, and records the pin in the
daemon's state (`wiring.state_store`: the state file, or Redis on a Swarm), where the daemon's
next tick finds it, once the scale succeeded: a failed `scale` leaves no pin behind. Works with
or without a daemon running.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.transaction import ScaleOutcome
from autoscaler.config import Settings
from autoscaler.errors import BadInput, Interrupted, OperatorError
from autoscaler.policy import Override
from autoscaler.runtime import wiring
from autoscaler.runtime.state import StateStore
from autoscaler.stopping import StopSignal, stopped_by_ctrl_c


class ManualScaleError(BadInput):
    pass


class ScaleFailed(OperatorError):
    """The scale did not happen as asked: nothing was pinned."""


@dataclass(frozen=True)
class Pinned:
    service: str
    override: Override
    outcome: ScaleOutcome


def pick_service(settings: Settings, service: str | None) -> str:
    """The named service, or the only one configured."""
    names = list(settings.services)
    if service is None:
        if len(names) == 1:
            return names[0]
        raise ManualScaleError(f"name the service with --service (one of: {', '.join(names)})")
    if service not in settings.services:
        raise ManualScaleError(f"unknown service {service!r} (configured: {', '.join(names)})")
    return service


def check_count(settings: Settings, service: str, replicas: int, force: bool) -> None:
    """A count the service may be pinned at: 0 or more, and within its bounds unless `force`."""
    policy = settings.services[service]
    if replicas < 0:
        raise ManualScaleError(f"replicas must be 0 or more, not {replicas}")
    if not force and not policy.min_replicas <= replicas <= policy.max_replicas:
        raise ManualScaleError(
            f"{replicas} is outside {service}'s [min_replicas, max_replicas] = "
            f"[{policy.min_replicas}, {policy.max_replicas}]; add --force to pin it anyway"
        )


def pin(
    settings: Settings, service: str, replicas: int, duration: float | None, force: bool
) -> Pinned:
    check_count(settings, service, replicas, force)
    state_file = wiring.state_store(settings)
    state_file.read()  # an unreadable state stops it before anything is scaled
    stop = StopSignal()
    transaction = wiring.transaction(settings, stop)
    with state_file.acting(service), stopped_by_ctrl_c(stop):
        try:
            snapshot = transaction.snapshot()
            if service == settings.nginx.upstream_service:  # the upstream is written holding it
                transaction.reconcile(snapshot)
            outcome = transaction.scale(service, replicas, snapshot)
        except (ActuatorError, Interrupted) as error:
            if stop.requested:  # Ctrl-C: Docker, in the same terminal, was stopped by it too
                raise Interrupted(f"{service}: scale interrupted, nothing pinned") from None
            raise ScaleFailed(f"{service} not scaled, nothing pinned: {error}") from None
        until = None if duration is None else time.time() + duration
        override = Override(replicas, until)
        _record(state_file, service, override)
    return Pinned(service, override, outcome)


def _record(state_file: StateStore, service: str, override: Override | None) -> None:
    with state_file.locked():
        state = state_file.read()
        state_file.write(
            state.with_history(service, state.history(service).with_override(override))
        )


def release(settings: Settings, service: str) -> Override | None:
    """Drop the service's pin; the daemon decides again from its next tick. The old pin."""
    state_file = wiring.state_store(settings)
    with state_file.locked():
        state = state_file.read()
        history = state.history(service)
        state_file.write(state.with_history(service, history.with_override(None)))
    return history.override
