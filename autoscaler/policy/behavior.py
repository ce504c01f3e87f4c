"""From the signals' recommendation to a safe count: the HPA's `behavior`, plus cooldowns.

Purely computational, no I/O here. Each stage takes the count so far and returns a Step with
the count it allows and why.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import takewhile

from autoscaler.policy.model import Recommendation, ScaleEvent, Step
from autoscaler.policy.parameters import Behavior, DirectionRules


def stabilize(
    recommended: Recommendation,
    current: int,
    past: tuple[Recommendation, ...],
    behavior: Behavior,
    lasting: str = "",
) -> Step:
    """Scale up only to the lowest, and down only to the highest, recommendation within each
    direction's window (the HPA's `stabilizeRecommendationWithBehaviors`); or down by the
    surplus rule, where the scale-down rules have one: `lasting`, why the fall will last, waives
    its budget. Once no job waits, the surplus rule reads the recommendations made while jobs
    waited as what they come down to with the jobs worked off: the workers asked for to work off
    a backlog that is gone are not asked for again, and the fall of the load they were made on
    counts from then on."""
    recommendation, now = recommended.replicas, recommended.at
    if recommendation < current and behavior.scale_down.surplus_replica_seconds:
        read = past if recommended.without_backlog is not None else _worked_off(past)
        step = _settle_surplus(recommendation, current, read, behavior.scale_down, now, lasting)
        if read != past and step.replicas < current:
            return replace(step, reason=f"{step.reason}, {_READ_WORKED_OFF}")
        return step
    up_cutoff = now - behavior.scale_up.stabilization_window_seconds
    down_cutoff = now - behavior.scale_down.stabilization_window_seconds
    lowest_recent = min([r.replicas for r in past if r.at > up_cutoff] + [recommendation])
    highest_recent = max([r.replicas for r in past if r.at > down_cutoff] + [recommendation])
    stabilized = min(max(current, lowest_recent), highest_recent)
    if stabilized == recommendation:
        return Step("stabilized", stabilized, "no change from the recommendation")
    if stabilized > recommendation:
        reason = (
            f"highest recommendation in the last "
            f"{behavior.scale_down.stabilization_window_seconds}s"
        )
    else:
        reason = (
            f"lowest recommendation in the last {behavior.scale_up.stabilization_window_seconds}s"
        )
    return Step("stabilized", stabilized, reason)


_READ_WORKED_OFF = "each made while jobs waited read as the count for the load alone"


def _worked_off(past: tuple[Recommendation, ...]) -> tuple[Recommendation, ...]:
    """The recommendations made while jobs waited read as what they asked for the load alone."""
    return tuple(replace(r, replicas=r.once_worked_off()) for r in past)


def _settle_surplus(
    recommendation: int,
    current: int,
    past: tuple[Recommendation, ...],
    rules: DirectionRules,
    now: float,
    lasting: str,
) -> Step:
    """Down to the highest recommendation since the recommendations fell below the count, once
    they have stayed there the window's length at least and the replicas that frees, times that
    long, reach the surplus budget; the lowest such count. A large surplus thus goes in one step
    within the window, a small one waits for more evidence, and noise never moves the count.
    A fall the signals know will last (`lasting` says why: the jobs got shorter) needs no such
    evidence, nor the window: the signal's own evidence is older than that (the job time of the
    last minute, against the longest of the last five); straight down to the recommendation, in
    one step."""
    budget = rules.surplus_replica_seconds
    window = rules.stabilization_window_seconds
    below = _below_current(current, past)
    if lasting:
        held = (now - below[-1].at) if below else 0.0
        return Step(
            "stabilized",
            recommendation,
            f"{current - recommendation} replicas free, below the count for {held:.0f}s "
            f"and lasting: {lasting}",
        )
    highest, since = recommendation, now
    for earlier in below:
        highest, since = max(highest, earlier.replicas), earlier.at
        held = now - since
        if held >= window and (current - highest) * held >= budget:
            return Step(
                "stabilized",
                highest,
                f"{current - highest} replicas free for {held:.0f}s: "
                "the highest recommendation since",
            )
    held = now - since
    return Step(
        "stabilized",
        current,
        f"{current - highest} replicas free for {held:.0f}s: below the surplus of {budget} "
        "replica-seconds that scales down",
    )


def _below_current(current: int, past: tuple[Recommendation, ...]) -> list[Recommendation]:
    """The recommendations since they last reached `current`, newest first: all below it."""
    return list(takewhile(lambda earlier: earlier.replicas < current, reversed(past)))


def cool_down(
    desired: int, current: int, events: tuple[ScaleEvent, ...], behavior: Behavior, now: float
) -> Step:
    """Hold the count while the last change is more recent than the direction's cooldown."""
    if desired == current or not events:
        return Step("cooldown", desired, "no cooldown in effect")
    rules = behavior.scale_up if desired > current else behavior.scale_down
    since_last_change = now - events[-1].at
    if since_last_change < rules.cooldown_seconds:
        return Step(
            "cooldown",
            current,
            f"last change {since_last_change:.0f}s ago, cooldown {rules.cooldown_seconds}s",
        )
    return Step("cooldown", desired, "no cooldown in effect")


def limit_rate(
    desired: int, current: int, events: tuple[ScaleEvent, ...], behavior: Behavior, now: float
) -> Step:
    """Cap the change by the direction's step policies over their periods (the HPA's
    `calculateScaleUpLimitWithScalingRules` and its scale-down twin)."""
    if desired > current:
        limit = max(current, _scale_up_limit(current, events, behavior.scale_up, now))
        if desired > limit:
            return Step("limited", limit, f"scale-up limited to {limit} by the step policies")
    elif desired < current:
        limit = min(current, _scale_down_limit(current, events, behavior.scale_down, now))
        if desired < limit:
            return Step("limited", limit, f"scale-down limited to {limit} by the step policies")
    return Step("limited", desired, "within the step policies")


def clamp(desired: int, min_replicas: int, max_replicas: int) -> Step:
    if desired < min_replicas:
        return Step("clamped", min_replicas, f"raised to min_replicas {min_replicas}")
    if desired > max_replicas:
        return Step("clamped", max_replicas, f"capped at max_replicas {max_replicas}")
    return Step("clamped", desired, f"within [{min_replicas}, {max_replicas}]")


def _scale_up_limit(
    current: int, events: tuple[ScaleEvent, ...], rules: DirectionRules, now: float
) -> int:
    proposals = []
    for policy in rules.policies:
        at_period_start = current - _net_change_within(events, policy.period_seconds, now)
        if policy.type == "pods":
            proposals.append(at_period_start + policy.value)
        else:
            proposals.append(math.ceil(at_period_start * (1 + policy.value / 100)))
    return max(proposals) if rules.select == "max" else min(proposals)


def _scale_down_limit(
    current: int, events: tuple[ScaleEvent, ...], rules: DirectionRules, now: float
) -> int:
    proposals = []
    for policy in rules.policies:
        at_period_start = current - _net_change_within(events, policy.period_seconds, now)
        if policy.type == "pods":
            proposals.append(at_period_start - policy.value)
        else:
            proposals.append(int(at_period_start * (1 - policy.value / 100)))
    # The policy that allows the largest change is the one that allows the FEWEST replicas.
    return min(proposals) if rules.select == "max" else max(proposals)


def _net_change_within(events: tuple[ScaleEvent, ...], period_seconds: int, now: float) -> int:
    cutoff = now - period_seconds
    return sum(event.change for event in events if event.at > cutoff)
