"""The scaling policy's parameters, as validated models. Purely computational, no I/O here."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


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


class QueueSignal(Strict):
    """Scale on a BullMQ queue: enough replicas for the arrival rate, plus enough to drain the
    backlog in time."""

    kind: Literal["bullmq_queue"] = "bullmq_queue"
    queue: str = Field(
        default="flowise-queue-prediction",
        min_length=1,
        description="The BullMQ queue name: Flowise's QUEUE_NAME followed by `-prediction`, "
        "`-upsertion` or `-schedule`.",
    )
    jobs_per_second_per_replica: float = Field(
        gt=0,
        description="How many jobs per second one replica completes when it is busy: the "
        "starting estimate, refined from the completions the queue shows.",
    )
    drain_backlog_seconds: float = Field(
        default=60,
        gt=0,
        description="Size the service so a backlog is worked off within this many seconds, on "
        "top of keeping up with arrivals.",
    )
    arrival_window_seconds: float = Field(
        default=60,
        ge=0,
        le=3600,
        description="Keep up with the mean arrival rate over this many seconds: a burst "
        "shorter than that is worked off from the queue, not with replicas.",
    )
    target_utilization: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Size for this share of what the replicas can complete: the headroom takes "
        "arrivals above the mean without a backlog.",
    )
    surge_factor: float = Field(
        default=2,
        gt=1,
        description="An interval whose arrival rate is this many times what the ready "
        "replicas complete is a surge: scale for it at once, not for the window's mean.",
    )

    @property
    def name(self) -> str:
        return f"bullmq_queue:{self.queue}"


class InFlightSignal(Strict):
    """Scale on requests in flight through nginx (stub_status Reading + Writing)."""

    kind: Literal["nginx_in_flight"] = "nginx_in_flight"
    target_per_replica: float = Field(
        gt=0, description="In-flight requests one ready replica should hold on average."
    )

    @property
    def name(self) -> str:
        return self.kind


class RequestRateSignal(Strict):
    """Scale on the request rate through nginx (stub_status `requests` counter)."""

    kind: Literal["nginx_request_rate"] = "nginx_request_rate"
    target_per_replica: float = Field(
        gt=0, description="Requests per second one ready replica should serve on average."
    )

    @property
    def name(self) -> str:
        return self.kind


Signal = Annotated[
    Union[QueueSignal, InFlightSignal, RequestRateSignal], Field(discriminator="kind")
]


class ServicePolicy(Strict):
    """How one compose service is scaled."""

    min_replicas: int = Field(default=1, ge=0, le=1000, description="Never fewer replicas.")
    max_replicas: int = Field(default=4, ge=1, le=1000, description="Never more replicas.")
    signals: tuple[Signal, ...] = Field(
        min_length=1,
        description="What to scale on. Each proposes a count; the largest wins.",
    )
    behavior: Behavior = Field(default_factory=Behavior, description="How fast to follow them.")

    @field_validator("max_replicas")
    @classmethod
    def _not_below_min(cls, max_replicas: int, info: ValidationInfo) -> int:
        min_replicas = info.data.get("min_replicas")
        if min_replicas is not None and max_replicas < min_replicas:
            raise ValueError(f"must not be below min_replicas ({min_replicas})")
        return max_replicas

    @field_validator("signals")
    @classmethod
    def _one_of_each(cls, signals: tuple[Signal, ...]) -> tuple[Signal, ...]:
        names = [signal.name for signal in signals]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"signal given twice: {', '.join(duplicates)}")
        return signals
