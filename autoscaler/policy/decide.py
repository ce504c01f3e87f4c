"""decide(): signals -> guard -> stabilize -> cooldown -> limit -> clamp, or a pinned override.

Purely computational, no I/O here.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.policy.behavior import clamp, cool_down, limit_rate, stabilize
from autoscaler.policy.model import (
    Decision,
    Observation,
    Proposal,
    Recommendation,
    ScaleEvent,
    ScalingRules,
    ServiceHistory,
    Step,
)
from autoscaler.policy.startup import learn_startup


def decide(
    service: str,
    rules: ScalingRules,
    observation: Observation,
    history: ServiceHistory,
    now: float,
) -> Decision:
    current = observation.current_replicas
    startup = learn_startup(history.startup, observation, history.events, now)
    observation = replace(
        observation,
        startup_seconds=startup.expected_seconds,
        starting_seconds_left=startup.seconds_left(now),
    )
    proposals = tuple(
        signal.propose(observation, rules.behavior, history.memory.get(signal.name), now)
        for signal in rules.signals
    )
    memory = {p.signal: p.memory for p in proposals if p.memory is not None}
    guarded = _guard_missing_data(proposals, current)
    recommendation = guarded.replicas
    without_backlog = _without_backlog(proposals, recommendation)

    override = history.override
    if override is not None and override.active(now):
        until = "for good" if override.until is None else f"until t={override.until:.0f}"
        steps: tuple[Step, ...] = (
            guarded,
            Step("override", override.replicas, f"pinned by hand {until}"),
        )
        return Decision(
            service, current, override.replicas, recommendation, proposals, steps, memory, startup,
            without_backlog,
        )  # fmt: skip

    stabilized = stabilize(
        Recommendation(now, recommendation, without_backlog),
        current,
        history.recommendations,
        rules.behavior,
        _lasting(proposals, recommendation),
    )
    cooled = cool_down(stabilized.replicas, current, history.events, rules.behavior, now)
    limited = limit_rate(cooled.replicas, current, history.events, rules.behavior, now)
    clamped = clamp(limited.replicas, rules.min_replicas, rules.max_replicas)
    steps = (guarded, stabilized, cooled, limited, clamped)
    return Decision(
        service, current, clamped.replicas, recommendation, proposals, steps, memory, startup,
        without_backlog,
    )  # fmt: skip


def _guard_missing_data(proposals: tuple[Proposal, ...], current: int) -> Step:
    """The largest proposal wins; but with any metric missing or partial, never scale down."""
    known = [p.replicas for p in proposals if p.replicas is not None]
    if not known:
        return Step("guarded", current, "no metric available: holding the current count")
    largest = max(known)
    doubtful = [p.signal for p in proposals if p.replicas is None or not p.may_scale_down]
    if doubtful and largest < current:
        return Step("guarded", current, f"not scaling down on partial data ({', '.join(doubtful)})")
    return Step("guarded", largest, "largest proposal")


def _without_backlog(proposals: tuple[Proposal, ...], recommendation: int) -> int | None:
    """While a signal tells of a backlog, the count the recommendation comes down to once it is
    worked off: the largest proposal's, each without its backlog. None while none tells of one."""
    if all(p.without_backlog is None for p in proposals):
        return None
    for_load = max(
        p.replicas if p.without_backlog is None else p.without_backlog
        for p in proposals
        if p.replicas is not None
    )
    return min(for_load, recommendation)


def _lasting(proposals: tuple[Proposal, ...], recommendation: int) -> str:
    """Why the recommendation's fall will last: as every proposal that asks for it says; empty
    when one of them does not say."""
    asking = [p for p in proposals if p.replicas == recommendation]
    if not asking or not all(p.lasting for p in asking):
        return ""
    return "; ".join(dict.fromkeys(p.lasting for p in asking))


def remember(
    history: ServiceHistory,
    decision: Decision,
    rules: ScalingRules,
    now: float,
    applied: bool,
) -> ServiceHistory:
    """The history after a decision: its recommendation, what it learned, and its change if it
    was applied."""
    horizon = _memory_seconds(rules)
    recommendation = Recommendation(now, decision.recommendation, decision.without_backlog)
    history = history.remembering(recommendation, horizon)
    history = history.with_memory(decision.memory).with_startup(decision.startup)
    if applied and decision.change:
        history = history.with_event(ScaleEvent(now, decision.current, decision.replicas), horizon)
    override = history.override
    if override is not None and not override.active(now):
        history = history.with_override(None)
    return history


def _memory_seconds(rules: ScalingRules) -> float:
    """How far back any rule looks: older recommendations and events can be forgotten."""
    directions = (rules.behavior.scale_up, rules.behavior.scale_down)
    return max(
        max(r.stabilization_window_seconds for r in directions),
        max(r.surplus_replica_seconds for r in directions),
        max(r.cooldown_seconds for r in directions),
        max(p.period_seconds for r in directions for p in r.policies),
    )
