"""Each signal's own recommendation. Purely computational, no I/O here."""

from __future__ import annotations

import math

from autoscaler.metrics import HttpLoad, QueueLoad, Unavailable
from autoscaler.policy.model import Observation, Proposal, Reading
from autoscaler.policy.parameters import (
    Behavior,
    InFlightSignal,
    QueueSignal,
    RequestRateSignal,
    Signal,
)

# Guards ceil() against float noise: 2.0000000001 replicas' worth of load needs 2, not 3.
_EPSILON = 1e-9


def propose(signal: Signal, observation: Observation, behavior: Behavior) -> Proposal:
    reading = observation.readings.get(signal.name, Unavailable("not read"))
    if isinstance(reading, Unavailable):
        return Proposal(signal.name, None, f"unavailable: {reading.reason}")
    if isinstance(signal, QueueSignal) and isinstance(reading, QueueLoad):
        return _queue_proposal(signal, reading, observation, behavior)
    if isinstance(signal, InFlightSignal) and isinstance(reading, HttpLoad):
        return _proportional(
            signal.name, reading.in_flight, "in flight", signal.target_per_replica,
            observation, behavior,
        )  # fmt: skip
    if isinstance(signal, RequestRateSignal) and isinstance(reading, HttpLoad):
        if reading.request_rate is None:
            return Proposal(signal.name, None, "unavailable: the rate needs a second read")
        return _proportional(
            signal.name, reading.request_rate, "req/s", signal.target_per_replica,
            observation, behavior,
        )  # fmt: skip
    return Proposal(signal.name, None, f"unavailable: unexpected reading {reading!r}")


def _queue_proposal(
    signal: QueueSignal, load: QueueLoad, observation: Observation, behavior: Behavior
) -> Proposal:
    """Replicas for the arrival rate, plus replicas to work off the backlog in time.

    A backlog-only rule (KEDA's) reads 0 the moment the queue catches up and scales in while
    jobs still pour in; the arrival rate does not.
    """
    drain_rate = load.backlog / signal.drain_backlog_seconds
    arrival_rate = load.arrival_rate
    if arrival_rate is None:
        needed = drain_rate / signal.jobs_per_second_per_replica
        described = f"backlog {load.backlog}, arrival rate not known yet"
    else:
        needed = (arrival_rate + drain_rate) / signal.jobs_per_second_per_replica
        described = f"{arrival_rate:.2f} jobs/s arriving, backlog {load.backlog}"
    if load.backlog + load.active > 0:
        needed = max(needed, 1.0)  # work is waiting or running: never propose zero workers
    proposal = _within_tolerance(signal.name, needed, described, observation, behavior)
    if arrival_rate is None:
        return Proposal(proposal.signal, proposal.replicas, proposal.reason, may_scale_down=False)
    return proposal


def _proportional(
    name: str,
    value: float,
    unit: str,
    target_per_replica: float,
    observation: Observation,
    behavior: Behavior,
) -> Proposal:
    """The HPA's rule for an average-value target: ceil(value / target per replica)."""
    described = f"{value:g} {unit} at {target_per_replica:g} per replica"
    return _within_tolerance(name, value / target_per_replica, described, observation, behavior)


def _within_tolerance(
    name: str, needed: float, described: str, observation: Observation, behavior: Behavior
) -> Proposal:
    """ceil(needed), unless needed is within the direction's tolerance of the ready count."""
    ready = observation.ready_replicas
    if ready > 0:
        ratio = needed / ready
        if 1 < ratio <= 1 + behavior.scale_up.tolerance or (
            1 - behavior.scale_down.tolerance <= ratio <= 1
        ):
            return Proposal(
                name,
                observation.current_replicas,
                f"{described}: {ratio:.2f} of {ready} ready replicas, within tolerance",
            )
    replicas = math.ceil(needed - _EPSILON)
    return Proposal(name, replicas, f"{described}: needs {needed:.2f} -> {replicas}")
