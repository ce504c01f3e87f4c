"""How long a new replica takes to take work, learned from what each decision sees. Purely
computational, no I/O here.

A scale-up is asked at one decision; the replicas it added are ready at a later one. The time
between is a sample of the service's start; the estimate follows the samples half way each time,
so a slower or faster start (a new image, a busier host) shows within two or three scale-ups.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.policy.model import Observation, ScaleEvent, StartupMemory

SAMPLE_WEIGHT = 0.5


def learn_startup(
    memory: StartupMemory, observation: Observation, events: tuple[ScaleEvent, ...], now: float
) -> StartupMemory:
    """The memory after this observation: a start completes when every replica is ready."""
    starting = observation.ready_replicas < observation.current_replicas
    if starting and memory.waiting_since is None:
        return replace(memory, waiting_since=_last_scale_up(events, now))
    if not starting and memory.waiting_since is not None:
        sample = now - memory.waiting_since
        seconds = sample if memory.seconds is None else memory.seconds
        seconds += SAMPLE_WEIGHT * (sample - seconds)
        return StartupMemory(seconds=seconds, waiting_since=None)
    return memory


def _last_scale_up(events: tuple[ScaleEvent, ...], now: float) -> float:
    """When the replicas not ready yet were asked for: the last scale-up, else now (a replica
    restarted, or added by hand)."""
    ups = [event.at for event in events if event.change > 0]
    return ups[-1] if ups else now
