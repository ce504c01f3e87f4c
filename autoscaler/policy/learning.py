"""What the policy learns from a queue's reads: the jobs per second one replica completes, and
the recent arrival rates. Purely computational, no I/O here.

The configured `jobs_per_second_per_replica` is only where the estimate starts: the real figure
depends on the flows, the models behind them and WORKER_CONCURRENCY, and it drifts. Between two
reads with the same ready replicas, completions per ready replica are
- a measurement of the throughput when jobs waited at both reads (every replica was busy);
- otherwise a lower bound: the replicas did at least that much.
"""

from __future__ import annotations

from collections.abc import Mapping

from autoscaler.metrics import QueueLoad
from autoscaler.policy.model import Observation, QueueHistory, RateReading
from autoscaler.policy.parameters import QueueSignal, Signal

# How far one busy interval moves the estimate toward what it measured: a new level shows within
# two or three reads, and one odd interval moves it only half way.
MEASUREMENT_WEIGHT = 0.5


def learn(
    signals: tuple[Signal, ...],
    observation: Observation,
    known: Mapping[str, QueueHistory],
    now: float,
) -> dict[str, QueueHistory]:
    """Each queue signal's history after this observation; kept as it was while unread."""
    learned = {}
    for signal in signals:
        if not isinstance(signal, QueueSignal):
            continue
        before = known.get(signal.name)
        reading = observation.readings.get(signal.name)
        if isinstance(reading, QueueLoad):
            ready = observation.ready_replicas
            learned[signal.name] = _after_read(signal, reading, ready, before, now)
        elif before is not None:
            learned[signal.name] = before
    return learned


def _after_read(
    signal: QueueSignal, load: QueueLoad, ready: int, before: QueueHistory | None, now: float
) -> QueueHistory:
    # A job or two can sit in `wait` for a moment even with idle workers; a job waiting for
    # every ready replica cannot.
    backlogged = load.backlog > 0 and load.backlog >= ready
    per_replica = signal.jobs_per_second_per_replica
    rates: tuple[RateReading, ...] = ()
    if before is not None:
        per_replica = _per_replica(before, load, ready, backlogged)
        cutoff = now - signal.arrival_window_seconds
        rates = tuple(r for r in before.arrival_rates if r.at > cutoff)
    if load.arrival_rate is not None:
        rates = (*rates, RateReading(now, load.arrival_rate))
    return QueueHistory(per_replica, backlogged, ready, rates)


def _per_replica(before: QueueHistory, load: QueueLoad, ready: int, backlogged: bool) -> float:
    if before.ready != ready or ready == 0 or load.completion_rate is None:
        return before.per_replica
    seen = load.completion_rate / ready
    if before.backlogged and backlogged:
        return before.per_replica + MEASUREMENT_WEIGHT * (seen - before.per_replica)
    return max(before.per_replica, seen)
