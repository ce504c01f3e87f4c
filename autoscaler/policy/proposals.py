"""The rules every signal kind sizes a service with. Purely computational, no I/O here."""

from __future__ import annotations

import math

from autoscaler.policy.model import Observation, Proposal
from autoscaler.policy.parameters import Behavior

# Guards ceil() against float noise: 2.0000000001 replicas' worth of load needs 2, not 3.
_EPSILON = 1e-9


def proportional(
    name: str,
    value: float,
    unit: str,
    target_per_replica: float,
    observation: Observation,
    behavior: Behavior,
) -> Proposal:
    """The HPA's rule for an average-value target: ceil(value / target per replica)."""
    described = f"{value:g} {unit} at {target_per_replica:g} per replica"
    return within_tolerance(name, value / target_per_replica, described, observation, behavior)


def within_tolerance(
    name: str, needed: float, described: str, observation: Observation, behavior: Behavior
) -> Proposal:
    """ceil(needed), unless needed is within the direction's tolerance of the current count:
    the replicas asked for, starting ones included (as the HPA's usage ratio), so that a read
    while a new replica starts does not ask for it again."""
    current = observation.current_replicas
    if current > 0:
        ratio = needed / current
        if 1 < ratio <= 1 + behavior.scale_up.tolerance or (
            1 - behavior.scale_down.tolerance <= ratio <= 1
        ):
            return Proposal(
                name, current, f"{described}: {ratio:.2f} of {current} replicas, within tolerance"
            )
    replicas = math.ceil(needed - _EPSILON)
    return Proposal(name, replicas, f"{described}: needs {needed:.2f} -> {replicas}")
