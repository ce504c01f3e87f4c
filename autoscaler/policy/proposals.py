"""Each signal's own recommendation. Purely computational, no I/O here."""

from __future__ import annotations

import math

from autoscaler.metrics import HttpLoad, QueueLoad, Unavailable
from autoscaler.policy.model import Observation, Proposal, QueueHistory
from autoscaler.policy.parameters import (
    Behavior,
    InFlightSignal,
    QueueSignal,
    RequestRateSignal,
    Signal,
)

# Guards ceil() against float noise: 2.0000000001 replicas' worth of load needs 2, not 3.
_EPSILON = 1e-9


def propose(
    signal: Signal,
    observation: Observation,
    behavior: Behavior,
    learned: QueueHistory | None = None,
) -> Proposal:
    """`learned`: what a queue signal's reads taught; without it, the configured throughput and
    the last arrival rate hold."""
    reading = observation.readings.get(signal.name, Unavailable("not read"))
    if isinstance(reading, Unavailable):
        return Proposal(signal.name, None, f"unavailable: {reading.reason}")
    if isinstance(signal, QueueSignal) and isinstance(reading, QueueLoad):
        return _queue_proposal(signal, reading, learned, observation, behavior)
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
    signal: QueueSignal,
    load: QueueLoad,
    learned: QueueHistory | None,
    observation: Observation,
    behavior: Behavior,
) -> Proposal:
    """Replicas for the arrival rate, plus replicas to work off the backlog in time.

    A backlog-only rule (KEDA's) reads 0 the moment the queue catches up and scales in while
    jobs still pour in; the arrival rate does not.
    """
    per_replica = learned.per_replica if learned else signal.jobs_per_second_per_replica
    target_per_replica = per_replica * signal.target_utilization
    ready_capacity = max(observation.ready_replicas, 1) * per_replica
    arrival_rate, taken = _arrival_rate(signal, load, learned, ready_capacity)
    drain_rate = load.backlog / signal.drain_backlog_seconds
    if arrival_rate is None:
        needed = drain_rate / target_per_replica
        described = f"backlog {load.backlog}, arrival rate not known yet"
    else:
        needed = (arrival_rate + drain_rate) / target_per_replica
        described = f"{arrival_rate:.2f} jobs/s arriving ({taken}), backlog {load.backlog}"
    utilization = signal.target_utilization
    described += f", {per_replica:.2f} jobs/s per replica, sized for {utilization:.0%} of it"
    if load.backlog + load.active > 0:
        needed = max(needed, 1.0)  # work is waiting or running: never propose zero workers
    proposal = _within_tolerance(signal.name, needed, described, observation, behavior)
    if arrival_rate is None:
        return Proposal(proposal.signal, proposal.replicas, proposal.reason, may_scale_down=False)
    return proposal


def _arrival_rate(
    signal: QueueSignal, load: QueueLoad, learned: QueueHistory | None, ready_capacity: float
) -> tuple[float | None, str]:
    """The rate to size for, and how it was taken.

    The mean over the arrival window: a burst shorter than that is worked off from the queue.
    But a surge, an interval with `surge_factor` times what the ready replicas complete, is
    sized for at once: waiting a window for it to show in the mean only grows the backlog.
    """
    if learned is None:
        return load.arrival_rate, "last interval"
    mean = learned.mean_arrival_rate()
    last = load.arrival_rate
    if last is not None and mean is not None and last >= signal.surge_factor * ready_capacity:
        return max(last, mean), "surge"
    return mean, f"mean over {signal.arrival_window_seconds:g}s"


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
