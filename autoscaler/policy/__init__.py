"""The scaling policy. Purely computational, no I/O here: no clock, no logging, no clients.

Everything it needs comes in as data (the parameters, an observation, the service's history and
`now`); everything it concludes goes out as a Decision that carries its reasons.
"""

from autoscaler.policy.decide import decide, remember
from autoscaler.policy.model import (
    Decision,
    Observation,
    Override,
    Proposal,
    Recommendation,
    ScaleEvent,
    ServiceHistory,
    Step,
)

__all__ = [
    "Decision",
    "Observation",
    "Override",
    "Proposal",
    "Recommendation",
    "ScaleEvent",
    "ServiceHistory",
    "Step",
    "decide",
    "remember",
]
