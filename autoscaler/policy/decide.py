"""decide(): signals -> guard -> stabilize -> cooldown -> limit -> clamp, or a pinned override.

Purely computational, no I/O here.
"""

from __future__ import annotations

from autoscaler.policy.behavior import clamp, cool_down, limit_rate, stabilize
from autoscaler.policy.learning import learn
from autoscaler.policy.model import (
    Decision,
    Observation,
    Proposal,
    Recommendation,
    ScaleEvent,
    ServiceHistory,
    Step,
)
from autoscaler.policy.parameters import ServicePolicy
from autoscaler.policy.proposals import propose


def decide(
    service: str,
    policy: ServicePolicy,
    observation: Observation,
    history: ServiceHistory,
    now: float,
) -> Decision:
    current = observation.current_replicas
    learned = learn(policy.signals, observation, history.queues, now)
    proposals = tuple(
        propose(s, observation, policy.behavior, learned.get(s.name)) for s in policy.signals
    )
    guarded = _guard_missing_data(proposals, current)
    recommendation = guarded.replicas

    override = history.override
    if override is not None and override.active(now):
        until = "for good" if override.until is None else f"until t={override.until:.0f}"
        steps = (guarded, Step("override", override.replicas, f"pinned by hand {until}"))
        return Decision(
            service, current, override.replicas, recommendation, proposals, steps, learned
        )

    stabilized = stabilize(recommendation, current, history.recommendations, policy.behavior, now)
    cooled = cool_down(stabilized.replicas, current, history.events, policy.behavior, now)
    limited = limit_rate(cooled.replicas, current, history.events, policy.behavior, now)
    clamped = clamp(limited.replicas, policy)
    steps = (guarded, stabilized, cooled, limited, clamped)
    return Decision(service, current, clamped.replicas, recommendation, proposals, steps, learned)


def _guard_missing_data(proposals: tuple[Proposal, ...], current: int) -> Step:
    """The largest proposal wins; but with any metric missing or partial, never scale down."""
    known = [p.replicas for p in proposals if p.replicas is not None]
    if not known:
        return Step("guarded", current, "no metric available: holding the current count")
    largest = max(known)
    doubtful = [p.signal for p in proposals if p.replicas is None or not p.may_scale_down]
    if doubtful and largest < current:
        return Step(
            "guarded", current, f"not scaling down on partial data ({', '.join(doubtful)})"
        )
    return Step("guarded", largest, "largest proposal")


def remember(
    history: ServiceHistory,
    decision: Decision,
    policy: ServicePolicy,
    now: float,
    applied: bool,
) -> ServiceHistory:
    """The history after a decision: its recommendation, what it learned, and its change if it
    was applied."""
    horizon = _memory_seconds(policy)
    history = history.remembering(Recommendation(now, decision.recommendation), horizon)
    history = history.with_queues(decision.queues)
    if applied and decision.change:
        history = history.with_event(ScaleEvent(now, decision.current, decision.replicas), horizon)
    override = history.override
    if override is not None and not override.active(now):
        history = history.with_override(None)
    return history


def _memory_seconds(policy: ServicePolicy) -> float:
    """How far back any rule looks: older recommendations and events can be forgotten."""
    rules = (policy.behavior.scale_up, policy.behavior.scale_down)
    return max(
        max(r.stabilization_window_seconds for r in rules),
        max(r.cooldown_seconds for r in rules),
        max(p.period_seconds for r in rules for p in r.policies),
    )
