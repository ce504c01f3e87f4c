"""How fast to follow the signals, per direction, as validated models. Purely computational, no
I/O here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepPolicy(Strict):
    """How far one period may move the replica count (Kubernetes HPA `behavior` policies)."""

    type: Literal["pods", "percent"] = Field(
        description="`pods`: by at most `value` replicas; `percent`: by at most `value` % of "
        "the count at the start of the period."
    )
    value: int = Field(gt=0, description="Replicas, or percent, per period.")
    period_seconds: int = Field(
        gt=0, le=1800, description="The sliding window over which the change is counted."
    )


class DirectionRules(Strict):
    """The rules for one direction (up or down) of scaling."""

    tolerance: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Keep the current count while a metric's ratio to its target is within "
        "this fraction of 1 in this direction.",
    )
    stabilization_window_seconds: int = Field(
        ge=0,
        le=3600,
        description="Scale down to the HIGHEST, or up to the LOWEST, recommendation made within "
        "this many seconds: a short dip or spike does not move the count.",
    )
    surplus_replica_seconds: int = Field(
        default=0,
        ge=0,
        le=36000,
        description="Scale down only: once the recommendations have stayed below the count for "
        "`stabilization_window_seconds` or more, scale down to the highest of them when the "
        "replicas it frees, times how long they stayed free, add up to this many "
        "replica-seconds: a large surplus goes in one step soon, a small one waits (one "
        "replica: this many seconds). What a scale change is worth: a removal that is soon "
        "undone costs a start and a change. A fall a signal knows will last (a queue's jobs "
        "got much shorter) goes to the recommendation at once. Once no job waits, a "
        "recommendation made while jobs waited counts as the count for the load alone. 0: "
        "the HPA's rule, down to the highest recommendation within the window.",
    )
    cooldown_seconds: int = Field(
        default=0,
        ge=0,
        le=3600,
        description="After any scale change, wait this long before a change in this direction.",
    )
    policies: tuple[StepPolicy, ...] = Field(
        min_length=1, description="Step limits; `select` chooses among them."
    )
    select: Literal["max", "min"] = Field(
        default="max",
        description="`max`: the policy allowing the largest change applies; `min`: the smallest.",
    )


def _default_scale_up() -> DirectionRules:
    return DirectionRules(
        stabilization_window_seconds=0,
        policies=(
            StepPolicy(type="pods", value=4, period_seconds=15),
            StepPolicy(type="percent", value=100, period_seconds=15),
        ),
    )


def _default_scale_down() -> DirectionRules:
    return DirectionRules(
        stabilization_window_seconds=300,
        policies=(StepPolicy(type="percent", value=100, period_seconds=15),),
    )


class Behavior(Strict):
    """Stabilization, tolerance, step limits and cooldowns, per direction."""

    scale_up: DirectionRules = Field(
        default_factory=_default_scale_up, description="Rules for adding replicas."
    )
    scale_down: DirectionRules = Field(
        default_factory=_default_scale_down, description="Rules for removing replicas."
    )

    @model_validator(mode="after")
    def _surplus_only_down(self) -> Behavior:
        if self.scale_up.surplus_replica_seconds:
            raise ValueError(
                "scale_up.surplus_replica_seconds: the surplus rule is for scale_down only"
            )
        return self
