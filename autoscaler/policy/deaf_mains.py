"""Is a main deaf? A main that stays healthy but never answers: its requests stay open while the
other mains' requests complete, or while the workers finish jobs until none is left (after a
Redis restart, Flowise 3.1.4 mains may all go deaf at once). Purely computational: the evidence
comes in as the open connections nginx holds to each main (each one named, so its age can be
told across reads) and what the queues show, `now` is a parameter, and each verdict carries its
reason.

nginx keeps no idle connection to a main, so an open connection is a request in flight, and one
that closed within the window is a request the main answered (or failed: it was heard from
either way). One that closed after longer proves nothing: a client that gave up on a deaf main
closes its request too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class ConnectionLedger:
    """What the reads so far tell about each main's requests."""

    watching_since: float | None = None
    """Since when every read succeeded: completions are only known from then on."""
    opened: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    """Each open connection -> (its main's server, when it was first seen open)."""
    completions: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    """Each main's server -> when its requests were seen answered, within the window."""
    jobs_finished: tuple[float, ...] = ()
    """When the queues' reads showed jobs finished, within the window."""
    queues_idle: tuple[float, ...] = ()
    """When the queues' reads showed no job waiting or running, within the window."""

    def observe(self, open_now: Mapping[str, str], now: float, window: float) -> ConnectionLedger:
        """After a read: `open_now` maps each open connection to its main's server."""
        answered = [
            server
            for key, (server, first_seen) in self.opened.items()
            if key not in open_now and now - first_seen <= window
        ]
        completions = {
            server: tuple(t for t in times if t > now - window)
            for server, times in self.completions.items()
        }
        for server in answered:
            completions[server] = (*completions.get(server, ()), now)
        opened = {key: self.opened.get(key, (server, now)) for key, server in open_now.items()}
        return replace(
            self,
            watching_since=now if self.watching_since is None else self.watching_since,
            opened=opened,
            completions={server: times for server, times in completions.items() if times},
        )

    def observe_queues(self, work: QueueWork | None, now: float, window: float) -> ConnectionLedger:
        """After a tick's read of the queues; None when they could not be read (no evidence)."""
        finished = tuple(t for t in self.jobs_finished if t > now - window)
        idle = tuple(t for t in self.queues_idle if t > now - window)
        if work is not None and work.jobs_finished:
            finished = (*finished, now)
        if work is not None and work.idle:
            idle = (*idle, now)
        return replace(self, jobs_finished=finished, queues_idle=idle)

    def workers_done_since(self, since: float) -> bool:
        """Whether, since `since`, the workers finished jobs and a read found no job left,
        waiting or running: every job asked for before it has run, so a main holding a request
        from before `since` waits on nothing."""
        return any(t > since for t in self.jobs_finished) and any(
            t > since for t in self.queues_idle
        )

    def interrupted(self) -> ConnectionLedger:
        """A read failed: what closed meanwhile is unknown, so the watch starts over."""
        return replace(self, watching_since=None)

    def forget(self, server: str) -> ConnectionLedger:
        """`server` was restarted: its old connections tell nothing about the new process."""
        return replace(
            self,
            opened={k: v for k, v in self.opened.items() if v[0] != server},
            completions={s: t for s, t in self.completions.items() if s != server},
        )


@dataclass(frozen=True)
class QueueWork:
    """What one tick's read of the queues the workers serve shows."""

    jobs_finished: bool
    """Jobs finished since the previous read."""
    idle: bool
    """No job waits for a worker, none runs."""


@dataclass(frozen=True)
class DeafMain:
    server: str
    stuck: int
    """Requests open longer than the rule's window."""
    reason: str


def judge_mains(
    ledger: ConnectionLedger,
    mains: Mapping[str, str],
    now: float,
    after_seconds: float,
    min_stuck_requests: int = 1,
) -> list[DeafMain]:
    """The deaf ones among `mains` (server -> replica name, the mains nginx routes to).

    A main is deaf when, over the last `after_seconds`, it had at least `min_stuck_requests`
    requests open all along and completed none, while another main completed at least one, or
    while the workers finished jobs until a read found none left (its requests' jobs have run).
    No verdict before the ledger has watched that long without a gap: missing evidence is no
    evidence. When nothing completes (the workers are down, or nobody sends requests) or jobs
    are always left, no main is judged: that is not one main's fault."""
    watching_since = ledger.watching_since
    if watching_since is None or now - watching_since < after_seconds:
        return []
    since = now - after_seconds
    recent = {s: sum(t > since for t in ledger.completions.get(s, ())) for s in mains}
    workers_done = ledger.workers_done_since(since)
    deaf = []
    for server, name in mains.items():
        stuck = sum(1 for s, first in ledger.opened.values() if s == server and first <= since)
        if stuck < min_stuck_requests or recent[server]:
            continue
        others = {mains[s]: n for s, n in recent.items() if s != server and n}
        if others:
            deaf.append(DeafMain(server, stuck, _reason(name, stuck, after_seconds, others)))
        elif workers_done:
            deaf.append(DeafMain(server, stuck, _reason_alone(name, stuck, after_seconds)))
    return deaf


def _reason(name: str, stuck: int, after_seconds: float, others: Mapping[str, int]) -> str:
    answered = ", ".join(f"{other} {count}" for other, count in sorted(others.items()))
    return (
        f"{name} is deaf: {stuck} request(s) open longer than {after_seconds:g} s and none "
        f"answered in that time, while the other mains answered (completed: {answered})"
    )


def _reason_alone(name: str, stuck: int, after_seconds: float) -> str:
    return (
        f"{name} is deaf: {stuck} request(s) open longer than {after_seconds:g} s and none "
        "answered in that time, while the workers finished jobs until none was left (no "
        "main answered: after a Redis restart, every main may have lost its Redis client)"
    )
