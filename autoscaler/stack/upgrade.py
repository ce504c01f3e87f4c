"""`upgrade`: the Flowise replicas moved to another image one at a time, the stack serving
throughout (upgrade_plan.py says in what order, and why).

New replicas start beside the old ones with `docker compose up --no-recreate --no-deps --scale
SERVICE=N+1 SERVICE`, compose reading a second env file laid over the stack's (`.env.upgrade`,
FLOWISE_IMAGE only; of several env files the last wins): compose creates the one missing
replica from the config as it resolves now, so on the new image, and --no-recreate leaves the
running replicas be, though their config no longer matches. A plain `docker compose up` would
recreate every replica of the service at once, and compose's own scale-down stops the highest
numbers, so the old replicas are retired by id, as a scale-in's victims are. The stack's .env
names the new image only once every replica runs it; a failed upgrade leaves it naming the old.

Meanwhile the daemon holds its counts (a hold in the state file, which every tick honours) and
this process holds every service's actuation lock, taken after the daemon's actions in progress.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from typing import NoReturn

from python_on_whales import DockerClient

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.plan import ScalePlan
from autoscaler.actuators.replicas import Replica, Snapshot
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.config import Settings
from autoscaler.envfile import with_value
from autoscaler.errors import Interrupted, OperatorError
from autoscaler.files import PRIVATE, write_atomically
from autoscaler.runtime import wiring
from autoscaler.runtime.state import Hold, StateStore
from autoscaler.stack.errors import failing_as
from autoscaler.stack.upgrade_plan import Image, Replacement, UpgradePlan, plan_upgrade
from autoscaler.stopping import StopSignal, stopped_by_ctrl_c

Progress = Callable[[str], None]

IMAGE_KEY = "FLOWISE_IMAGE"
OVERRIDE_FILE = ".env.upgrade"
_POLL_SECONDS = 1.0
_STOP_SECONDS = 60.0
"""A bound on one replica's stop (the shipped worker's stop_grace_period is 40 s)."""


class UpgradeFailed(OperatorError):
    pass


@dataclass(frozen=True)
class Upgraded:
    image: str
    replaced: tuple[str, ...]
    """The replicas replaced, by name."""


def dry_run(settings: Settings, image: str | None) -> UpgradePlan:
    """The plan for the stack as it runs now; nothing is changed, no image pulled."""
    stack = _Stack.read(settings, image)
    with failing_as("list the replicas"):
        snapshot = wiring.transaction(settings).snapshot()
    return stack.plan(snapshot, stack.target)


def upgrade(settings: Settings, image: str | None, progress: Progress) -> Upgraded:
    stack = _Stack.read(settings, image)
    _pull_if_missing(stack.docker, stack.target.ref, progress)
    target = stack.image(stack.target.ref)
    state_file = wiring.state_store(settings)
    stop = StopSignal()
    with (
        _held(state_file, f"upgrade to {target.ref}", settings) as renew,
        stopped_by_ctrl_c(stop),
        _acting(state_file, settings, progress),
    ):
        upgrading = _transaction(settings, stop, target.ref)
        with failing_as("list the replicas"):
            chosen = stack.plan(upgrading.snapshot(), target)
        for step in chosen.steps():
            progress(f"plan: {step}")
        rolling = _Rolling(upgrading, chosen, settings.nginx.upstream_service, renew, progress)
        try:
            replaced = rolling.run()
        except Interrupted:
            raise Interrupted(
                f"upgrade interrupted after {rolling.done} of {len(chosen.replacements)} "
                f"replicas, .env unchanged: run it again to finish, or `upgrade --image "
                f"{chosen.previous}` to go back"
            ) from None
        except (_NotFit, ActuatorError) as failure:
            _roll_back(stack, settings, stop, chosen, renew, failure, progress)
        _name_in_env(settings, target.ref, progress)
    return Upgraded(target.ref, replaced)


@dataclass(frozen=True)
class _Stack:
    """What the stack names and runs, read once."""

    settings: Settings
    docker: DockerClient
    configured: Mapping[str, str]
    """Each compose service's image, as compose resolves it from .env now."""
    target: Image

    @classmethod
    def read(cls, settings: Settings, image: str | None) -> _Stack:
        backend = settings.compose.backend
        if backend != "compose":
            raise UpgradeFailed(
                f"upgrade replaces compose replicas one at a time: on the {backend} backend, "
                "roll the services with `docker service update --image`"
            )
        docker = wiring.docker_client(settings)
        with failing_as("read the stack's images (docker compose config)"):
            services = docker.compose.config(return_json=True).get("services") or {}
        configured = {name: str(service.get("image", "")) for name, service in services.items()}
        routed = settings.nginx.upstream_service
        if not configured.get(routed):
            raise UpgradeFailed(f"the compose service {routed!r} names no image")
        stack = cls(settings, docker, configured, Image("", ""))
        return replace(stack, target=stack.image(image or configured[routed]))

    def image(self, ref: str) -> Image:
        """`ref` and what it names on this host now (no id when absent)."""
        with failing_as(f"docker image inspect {ref}"):
            exists = self.docker.image.exists(ref)
            return Image(ref, self.docker.image.inspect(ref).id if exists else "")

    def plan(self, snapshot: Snapshot, target: Image) -> UpgradePlan:
        routed = self.settings.nginx.upstream_service
        flowise = [
            s for s in self.settings.services if self.configured.get(s) == self.configured[routed]
        ]
        return plan_upgrade(
            snapshot, target, self._previous(snapshot), flowise, routed,
            self.settings.compose.ready_timeout_seconds,
            self.settings.nginx.drain_timeout_seconds,
        )  # fmt: skip

    def _previous(self, snapshot: Snapshot) -> str:
        """The image most mains run, else the one the stack names."""
        routed = self.settings.nginx.upstream_service
        running = Counter(r.image for r in snapshot.get(routed, []) if r.state == "running")
        return running.most_common(1)[0][0] if running else self.configured[routed]


class _NotFit(Exception):
    """A new replica did not become fit in time."""

    def __init__(self, replica: Replica, why: str) -> None:
        super().__init__(f"{replica.name} {why}")
        self.replica = replica


class _Rolling:
    """Carries out a plan's replacements one at a time through `transaction`, whose compose
    starts replicas of the plan's image."""

    def __init__(
        self,
        transaction: ScaleTransaction,
        plan: UpgradePlan,
        routed: str,
        renew: Callable[[], None],
        progress: Progress,
    ) -> None:
        self._transaction = transaction
        self._plan = plan
        self._routed = routed
        self._renew = renew
        self._progress = progress
        self.done = 0

    def run(self) -> tuple[str, ...]:
        if self._plan.leftovers:
            self._transaction.remove(self._plan.leftovers)
            names = ", ".join(r.name for r in self._plan.leftovers)
            self._progress(f"removed the warm and stopped replicas {names}")
        for step in self._plan.replacements:
            self._renew()
            self._replace(step)
            self.done += 1
        return tuple(step.old.name for step in self._plan.replacements)

    def _replace(self, step: Replacement) -> None:
        started = time.monotonic()
        new = self._start_one(step.service)
        routed = ", routed" if step.routed else ""
        took = time.monotonic() - started
        self._progress(
            f"{step.service}: {new.name} on {self._plan.image.ref} is fit ({took:.0f}s){routed}"
        )
        self.retire(step.old)

    def _start_one(self, service: str) -> Replica:
        """One more replica of the service, fit (a main healthy and routed, a worker taking
        jobs) within the ready timeout; _NotFit when it is not."""
        snapshot = self._transaction.snapshot()
        running = tuple(r for r in snapshot.get(service, []) if r.state == "running")
        routed = service == self._routed
        timeout = self._plan.ready_timeout_seconds
        grow = ScalePlan(service, running, len(running) + 1, routed, ready_timeout_seconds=timeout)
        outcome = self._transaction.apply(grow, snapshot)
        added = [
            r for r in self._transaction.snapshot().get(service, []) if r.name in outcome.added
        ]
        if not added:
            raise ActuatorError(f"start a {service} replica", "compose started none")
        if outcome.not_ready:
            raise _NotFit(added[0], f"not healthy within {timeout:g}s")
        if not routed:
            self._wait_taking_jobs(added[0], time.monotonic() + timeout)
        return added[0]

    def _wait_taking_jobs(self, replica: Replica, deadline: float) -> None:
        """Until the worker's log names its BullMQ workers (it takes jobs from then on); at once
        for a service whose jobs cannot be seen."""
        while True:
            jobs = self._transaction.running_jobs(replica.service, [replica])
            if jobs is None or replica.id in jobs:
                return
            now = {r.id: r for r in self._transaction.snapshot().get(replica.service, [])}
            state = now[replica.id].state if replica.id in now else "removed"
            if state != "running":
                raise _NotFit(replica, f"is {state}, not taking jobs")
            if time.monotonic() >= deadline:
                timeout = self._plan.ready_timeout_seconds
                raise _NotFit(replica, f"took no job within {timeout:g}s (no BullMQ worker logged)")
            self._transaction.pause(_POLL_SECONDS)

    def retire(self, old: Replica) -> None:
        """`old` stopped and removed as a scale-in's victim: a main out of the upstream and
        drained first, a worker once it runs no job."""
        routed = old.service == self._routed
        snapshot = self._transaction.snapshot()
        before = tuple(
            r for r in snapshot.get(old.service, []) if r.state == "running" or r.id == old.id
        )
        jobs_seen = not routed and self._transaction.running_jobs(old.service, [old]) is not None
        shrink = ScalePlan(
            old.service, before, len(before) - 1, routed, victims=(old,),
            drain_timeout_seconds=self._plan.drain_timeout_seconds, finishes_jobs=jobs_seen,
        )  # fmt: skip
        outcome = self._transaction.apply(shrink, snapshot)
        left = ""
        if outcome.undrained:
            left = f" ({outcome.undrained} requests still in flight at the drain timeout)"
        if outcome.unfinished:
            left = f" ({outcome.unfinished} jobs still running at the drain timeout)"
        how = "drained" if routed else "done with its jobs"
        self._progress(f"{old.service}: {old.name} {how}, stopped and removed{left}")


def _roll_back(
    stack: _Stack,
    settings: Settings,
    stop: StopSignal,
    failed: UpgradePlan,
    renew: Callable[[], None],
    failure: Exception,
    progress: Progress,
) -> NoReturn:
    """Back to the previous image, the same rolling way; raises UpgradeFailed saying why."""
    why = f"upgrade to {failed.image.ref} failed: {failure}"
    progress(f"{why}; rolling back to {failed.previous}")
    back = _transaction(settings, stop, failed.previous)
    routed = settings.nginx.upstream_service
    try:
        if isinstance(failure, _NotFit):
            _Rolling(back, failed, routed, renew, progress).retire(failure.replica)
        previous = stack.image(failed.previous)
        if failed.moved_away(previous):
            raise UpgradeFailed(
                f"{why}\nnot rolled back: {previous.ref} names another image on this host now "
                "than the replicas ran (it was pulled anew): the replicas not yet replaced still "
                "run the old one"
            )
        rollback = stack.plan(back.snapshot(), previous)
        _Rolling(back, rollback, routed, renew, progress).run()
    except (_NotFit, ActuatorError) as second:
        raise UpgradeFailed(
            f"{why}\nthe rollback to {failed.previous} failed too: {second}"
        ) from None
    # .env names the new image only where the operator wrote it there before the upgrade: the
    # next scale-out would start that image again
    _name_in_env(settings, failed.previous, progress)
    raise UpgradeFailed(f"{why}\nrolled back: every replica runs {failed.previous}, as .env names")


def _transaction(settings: Settings, stop: StopSignal, image: str) -> ScaleTransaction:
    """A transaction whose compose starts replicas of `image`."""
    override = settings.compose.directory / OVERRIDE_FILE
    with failing_as(f"write {override}"):
        write_atomically(override, f"{IMAGE_KEY}={image}\n", PRIVATE)
    return wiring.transaction(settings, stop, env_over=override)


def _pull_if_missing(docker: DockerClient, image: str, progress: Progress) -> None:
    with failing_as(f"docker pull {image} (nothing changed)"):
        if docker.image.exists(image):
            return
        progress(f"pulling {image}: can take minutes")
        docker.image.pull(image, quiet=True)


@contextmanager
def _held(state_file: StateStore, reason: str, settings: Settings) -> Iterator[Callable[[], None]]:
    """The daemon's counts held for the block; inside, `renew()` extends the hold by one
    replacement's bound. It ends at the block's end (and by itself, should this process die)."""
    bound = (
        settings.compose.ready_timeout_seconds
        + 2 * settings.nginx.drain_timeout_seconds
        + _STOP_SECONDS
    )

    def hold_until(until: float) -> None:
        with failing_as(f"hold the daemon's counts in {state_file.where}"), state_file.locked():
            state = state_file.read()
            state_file.write(replace(state, hold=Hold(reason, until)))

    hold_until(time.time() + bound)
    try:
        yield lambda: hold_until(time.time() + bound)
    finally:
        hold_until(time.time())
        (settings.compose.directory / OVERRIDE_FILE).unlink(missing_ok=True)


@contextmanager
def _acting(state_file: StateStore, settings: Settings, progress: Progress) -> Iterator[None]:
    """Every scaled service's actuation lock, taken once the action in progress on it ends,
    and the warm pools' refill lock: a refill under way ends first, the next one sees the hold."""
    with ExitStack() as locks:
        for service in sorted(settings.services):
            if not locks.enter_context(state_file.acting_if_free(service)):
                progress(f"{service}: waiting for the scaling action in progress to end")
                locks.enter_context(state_file.acting(service))
        if not locks.enter_context(state_file.refilling(wait=False)):
            progress("waiting for the warm pools' refill in progress to end")
            locks.enter_context(state_file.refilling())
        yield


def _name_in_env(settings: Settings, image: str, progress: Progress) -> None:
    env_file = settings.compose.env_path
    with failing_as(f"set {IMAGE_KEY} in {env_file}"):
        before = env_file.read_text()
        after = with_value(before, IMAGE_KEY, image)
        if after != before:
            write_atomically(env_file, after, env_file.stat().st_mode & 0o777)
            progress(f"{env_file}: {IMAGE_KEY}={image}")
