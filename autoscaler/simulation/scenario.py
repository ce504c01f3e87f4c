"""What to simulate, taken from the config and the command line, and the runs of every policy
on one trace. Purely computational, no I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from autoscaler.config import ServicePolicy, Settings
from autoscaler.errors import BadInput
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.simulation.keda import keda, keda_wait_only
from autoscaler.simulation.kpa import KnativePodAutoscaler, knative_defaults
from autoscaler.simulation.run import (
    PolicyResult,
    Scaler,
    Timeline,
    lower_bound_replica_seconds,
    replay,
)
from autoscaler.simulation.scalers import DaemonPolicy, Oracle
from autoscaler.simulation.service import ServiceModel
from autoscaler.simulation.trace import Trace
from autoscaler.simulation.workload import Workload

OURS = "compose-flowise"


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
    capacity: float
    """Jobs per second one busy replica completes when a trace does not give service times:
    each job then holds a slot for K / capacity seconds."""
    slo_seconds: float

    @property
    def default_job_seconds(self) -> float:
        return self.model.concurrency / self.capacity


@dataclass(frozen=True)
class Comparison:
    policies: dict[str, PolicyResult]
    lower_bound_replica_seconds: int
    """No policy can pay less: the work's slot-seconds over K (run.lower_bound_replica_seconds)."""
    timelines: dict[str, Timeline] = field(default_factory=dict)
    """Each policy's run second by second."""
    arrivals: tuple[int, ...] = ()
    """The load: jobs arriving in each second of the trace."""


def scenario(
    settings: Settings,
    model: ServiceModel,
    capacity: float,
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
    interval = settings.daemon.interval_seconds
    return Scenario(service, policy, signal, interval, model, capacity, slo_seconds)


def _queue_scaled_service(settings: Settings) -> tuple[str, ServicePolicy, QueueSignal]:
    for name, policy in settings.services.items():
        for signal in policy.signals:
            if isinstance(signal, QueueSignal):
                return name, policy, signal
    raise ScenarioError("the config has no service with a bullmq_queue signal to simulate")


def compare(trace: Trace, chosen: Scenario) -> Comparison:
    """compose-flowise, the baselines and the oracle on the same trace, from min replicas."""
    workload = Workload.of(trace, chosen.default_job_seconds)
    model, start = chosen.model, chosen.policy.min_replicas
    runs = {
        name: replay(workload, scaler, model, chosen.slo_seconds, start)
        for name, scaler in _reactive_scalers(chosen).items()
    }
    oracle = Oracle(workload, model.concurrency, start, chosen.policy.max_replicas)
    instant = replace(model, startup_seconds=0)
    runs["oracle"] = replay(workload, oracle, instant, chosen.slo_seconds, start)
    return Comparison(
        {name: run.result for name, run in runs.items()},
        lower_bound_replica_seconds(workload, model.concurrency),
        {name: run.timeline for name, run in runs.items()},
        trace.arrivals,
    )


def _reactive_scalers(chosen: Scenario) -> dict[str, Scaler]:
    """The scalers that see only what the daemon sees, each built the way its users would."""
    policy, concurrency = chosen.policy, chosen.model.concurrency
    lowest, highest = policy.min_replicas, policy.max_replicas
    return {
        OURS: DaemonPolicy(
            chosen.service, policy, chosen.signal, chosen.interval_seconds, concurrency
        ),
        "keda": keda(concurrency, lowest, highest),
        "kpa": KnativePodAutoscaler(knative_defaults(concurrency, lowest, highest), lowest),
        "keda-wait-only": keda_wait_only(chosen.capacity, lowest, highest),
    }
