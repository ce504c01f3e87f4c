"""The scaling policy. Purely computational, no I/O here: no clock, no logging, no clients.

Everything it needs comes in as data (the rules, an observation, the service's history and
`now`); everything it concludes goes out as a Decision that carries its reasons. It knows no
signal kind: each signal proposes through the `SignalRule` protocol (see autoscaler.signals).
"""

from autoscaler.policy.decide import decide, remember
from autoscaler.policy.model import (
    Decision,
    Memory,
    Observation,
    Override,
    Proposal,
    Recommendation,
    ScaleEvent,
    ScalingRules,
    ServiceHistory,
    SignalRule,
    Step,
    Unavailable,
)

__all__ = [
    "Decision",
    "Memory",
    "Observation",
    "Override",
    "Proposal",
    "Recommendation",
    "ScaleEvent",
    "ScalingRules",
    "ServiceHistory",
    "SignalRule",
    "Step",
    "Unavailable",
    "decide",
    "remember",
]
