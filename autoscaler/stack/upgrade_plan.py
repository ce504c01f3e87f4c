"""What `upgrade` will do, decided before anything is done. Purely computational, no I/O here:
`upgrade --dry-run` prints this plan, and the tests read it.

A rolling upgrade replaces one replica at a time, the routed service (the mains) first: the
first new replica starts alone, since a Flowise process migrates the database as it starts and
several racing on one migration crash. Each replacement starts the new replica beside the old
one, waits until it is fit (a main healthy and routed, a worker taking jobs), and only then
retires the old one the way a scale-in does (a main out of nginx and drained, a worker left to
finish its jobs) before it stops it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.actuators.replicas import Replica, Snapshot


@dataclass(frozen=True)
class Image:
    ref: str
    """As compose names it (`FLOWISE_IMAGE`)."""
    id: str
    """What the ref names on this host now; empty when it is not here."""


@dataclass(frozen=True)
class Replacement:
    service: str
    old: Replica
    routed: bool
    """The service is behind nginx: the new replica is routed once healthy, the old one drained."""
    migrates: bool
    """The first new replica of the upgrade: it starts alone and migrates the database."""


@dataclass(frozen=True)
class UpgradePlan:
    image: Image
    previous: str
    """The image the stack names now: what a failed upgrade rolls back to."""
    leftovers: tuple[Replica, ...]
    """Warm (paused or warming) and stopped replicas of the old image: removed first, since
    compose would start them again instead of new ones. The daemon refills the warm pools."""
    replacements: tuple[Replacement, ...]
    ready_timeout_seconds: float
    drain_timeout_seconds: float

    @property
    def changes_replicas(self) -> bool:
        return bool(self.leftovers or self.replacements)

    def moved_away(self, previous: Image) -> bool:
        """`previous` names another image now than the replaced replicas ran (the tag was
        pulled anew): rolling back to it would start the image that failed."""
        ran = {step.old.image_id for step in self.replacements if step.old.image == previous.ref}
        return bool(ran) and previous.id not in ran

    def steps(self) -> tuple[str, ...]:
        """What carrying out the plan does, in order, in words."""
        if not self.changes_replicas:
            return (f"no replica runs an image other than {self.image.ref}",
                    f"set FLOWISE_IMAGE={self.image.ref} in .env")  # fmt: skip
        steps = [] if self.image.id else [f"pull {self.image.ref} (not on this host)"]
        steps.append("hold the daemon's counts (state file), take each service's actuation lock")
        if self.leftovers:
            names = ", ".join(r.name for r in self.leftovers)
            steps.append(f"remove the warm and stopped replicas {names}")
        steps += [line for step in self.replacements for line in self._replacement_steps(step)]
        steps += [
            f"set FLOWISE_IMAGE={self.image.ref} in .env, release the hold",
            f"a new replica not fit within {self.ready_timeout_seconds:g}s: remove it, put "
            f"each replaced one back on {self.previous} the same way, .env naming it, exit 1",
        ]
        return tuple(steps)

    def _replacement_steps(self, step: Replacement) -> list[str]:
        old, wait = step.old.name, f"wait up to {self.drain_timeout_seconds:g}s"
        alone = " alone (it migrates the database)" if step.migrates else ""
        start = f"{step.service}: start one replica of {self.image.ref}{alone}; "
        ready = f"wait up to {self.ready_timeout_seconds:g}s until it is"
        if step.routed:
            return [
                f"{start}{ready} healthy, then route it (nginx -t, reload)",
                f"{step.service}: take {old} out of the upstream, {wait} until nginx has no "
                f"request in flight to it, stop and remove it",
            ]
        return [
            f"{start}{ready} taking jobs",
            f"{step.service}: {wait} until {old} runs no job, stop it (it finishes what it "
            "runs) and remove it",
        ]


def plan_upgrade(
    snapshot: Snapshot,
    image: Image,
    previous: str,
    services: Sequence[str],
    routed: str,
    ready_timeout_seconds: float,
    drain_timeout_seconds: float,
) -> UpgradePlan:
    """Every running replica of `services` not on `image` replaced, the routed service's first,
    each service's lowest number first."""
    ordered = sorted(services, key=lambda service: service != routed)
    leftovers: list[Replica] = []
    replacements: list[Replacement] = []
    for service in ordered:
        replicas = sorted(snapshot.get(service, []), key=lambda r: r.number)
        leftovers += [r for r in replicas if r.state != "running" and not _on(r, image)]
        for old in replicas:
            if old.state == "running" and not _on(old, image):
                first = not replacements
                replacements.append(Replacement(service, old, service == routed, first))
    return UpgradePlan(image, previous, tuple(leftovers), tuple(replacements),
                       ready_timeout_seconds, drain_timeout_seconds)  # fmt: skip


def _on(replica: Replica, image: Image) -> bool:
    return replica.image == image.ref and replica.image_id == image.id
