"""What to simulate, taken from the config and the command line, and the three runs on one
trace. Purely computational, no I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from autoscaler.config import ServicePolicy, Settings
from autoscaler.errors import BadInput
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.simulation.hpa import HorizontalPodAutoscaler, HpaSpec
from autoscaler.simulation.run import PolicyResult, simulate
from autoscaler.simulation.scalers import DaemonPolicy, Oracle
from autoscaler.simulation.service import ServiceModel

# KEDA's Redis list scaler with an AverageValue target of this much work per replica.
HPA_TARGET_SECONDS_OF_WORK = 2


class ScenarioError(BadInput):
    """The config and the options do not describe something that can be simulated."""


@dataclass(frozen=True)
class Scenario:
    service: str
    """The queue-scaled service of the config."""
    policy: ServicePolicy
    """Its policy, with the simulated min and max, scaling on its queue alone."""
    signal: QueueSignal
    interval_seconds: float
    model: ServiceModel
    slo_seconds: float


def scenario(
    settings: Settings,
    model: ServiceModel,
    slo_seconds: float,
    min_replicas: int | None = None,
    max_replicas: int | None = None,
) -> Scenario:
    """The first service with a `bullmq_queue` signal; min and max default to its own.

    A trace tells only what the queue sees, so the service's other signals are left out.
    """
    service, policy, signal = _queue_scaled_service(settings)
    lowest = policy.min_replicas if min_replicas is None else min_replicas
    highest = policy.max_replicas if max_replicas is None else max_replicas
    if lowest > highest:
        raise ScenarioError(f"min replicas ({lowest}) must not be above max replicas ({highest})")
    policy = policy.model_copy(
        update={"min_replicas": lowest, "max_replicas": highest, "signals": (signal,)}
    )
    return Scenario(service, policy, signal, settings.daemon.interval_seconds, model, slo_seconds)


def _queue_scaled_service(settings: Settings) -> tuple[str, ServicePolicy, QueueSignal]:
    for name, policy in settings.services.items():
        for signal in policy.signals:
            if isinstance(signal, QueueSignal):
                return name, policy, signal
    raise ScenarioError("the config has no service with a bullmq_queue signal to simulate")


def compare(arrivals: Sequence[int], chosen: Scenario) -> dict[str, PolicyResult]:
    """compose-flowise, the HPA baseline and the oracle on the same trace."""
    policy, model = chosen.policy, chosen.model
    ours = DaemonPolicy(chosen.service, policy, chosen.signal, chosen.interval_seconds)
    hpa = HorizontalPodAutoscaler(
        HpaSpec(
            min_replicas=policy.min_replicas,
            max_replicas=policy.max_replicas,
            target_average_value=HPA_TARGET_SECONDS_OF_WORK * model.capacity,
        )
    )
    oracle = Oracle(arrivals, model.capacity, policy.min_replicas, policy.max_replicas)
    start = policy.min_replicas
    return {
        "compose-flowise": simulate(arrivals, ours, model, chosen.slo_seconds, start),
        "hpa": simulate(arrivals, hpa, model, chosen.slo_seconds, start),
        "oracle": simulate(
            arrivals, oracle, replace(model, startup_seconds=0), chosen.slo_seconds, start
        ),
    }
