"""One-shot Swarm jobs that act on containers of other nodes, which a manager's engine does not
reach: compose/node-container.py run by the stack's own image, placed on those nodes, with
their engine's socket mounted. Removed once they ended, whatever their outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Literal

from autoscaler.actuators.errors import ActuatorError
from autoscaler.shipped import shipped_path

SCRIPT = "compose/node-container.py"
JOB_LABEL = "compose-flowise.job-of"
"""Carries the stack's name on each job."""
JOB_START_SECONDS = 60.0
"""How long a job may take beside its action: placed, its container made."""
_ENGINE_SOCKET = "/var/run/docker.sock"
_POLL_SECONDS = 0.5
_FAILED = {"failed", "rejected"}

Docker = Callable[[list[str]], str]
"""Runs a docker command (its arguments) through a manager's engine; its output."""


@dataclass(frozen=True)
class NodeJob:
    """`action` (node-container.py's `stop` or `remove`) of `container`: one task on a node
    `constraint` allows (`replicated-job`), or one on each such node (`global-job`; every
    node without a constraint)."""

    stack: str
    name: str
    image: str
    action: Literal["stop", "remove"]
    container: str
    constraint: str = ""
    mode: Literal["replicated-job", "global-job"] = "replicated-job"

    def create_command(self, script: str) -> list[str]:
        """`docker service create`'s arguments, `script` being node-container.py's source. The
        image as the stack's spec names it, which the nodes have: no registry asked."""
        placed = ["--constraint", self.constraint] if self.constraint else []
        return ["service", "create", "--detach", "--name", self.name, "--mode", self.mode,
                "--restart-condition", "none", "--no-resolve-image", *placed,
                "--mount", f"type=bind,source={_ENGINE_SOCKET},target={_ENGINE_SOCKET}",
                "--label", f"{JOB_LABEL}={self.stack}", "--entrypoint", "python3",
                self.image, "-c", script, self.action, self.container]  # fmt: skip


def job_outcome(service_ps: str) -> tuple[str, str]:
    """(state, error) of a job from `docker service ps --format
    '{{.CurrentState}}\\t{{.Error}}'`, a task a line: `failed` (with the first error) when one
    failed or was rejected, `complete` when every one completed, else `running` (none made yet,
    or one on its way)."""
    tasks = [line.partition("\t") for line in service_ps.splitlines() if line.strip()]
    states = [(state.split() or [""])[0].lower() for state, _, _ in tasks]
    for state, (_, _, error) in zip(states, tasks, strict=True):
        if state in _FAILED:
            return "failed", f"{state}: {error.strip()}"
    if states and all(state == "complete" for state in states):
        return "complete", ""
    return "running", ""


def run_job(docker: Docker, job: NodeJob, what: str, seconds: float) -> None:
    """The job created, waited for until every task of it completed, and removed: an
    ActuatorError naming `what` if one failed or it took more than `seconds`."""
    script = shipped_path(SCRIPT).read_text(encoding="utf-8")
    with suppress(ActuatorError):  # one left by a run cut short
        docker(["service", "rm", job.name])
    docker(job.create_command(script))
    try:
        _wait_until_complete(docker, job.name, what, seconds)
    finally:
        docker(["service", "rm", job.name])


def _wait_until_complete(docker: Docker, name: str, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        listing = docker(["service", "ps", name, "--no-trunc",
                          "--format", "{{.CurrentState}}\t{{.Error}}"])  # fmt: skip
        state, error = job_outcome(listing)
        if state == "complete":
            return
        if state == "failed":
            raise ActuatorError(what, f"the job {name}: {error}")
        if time.monotonic() > deadline:
            raise ActuatorError(what, f"the job {name} did not end in {seconds:.0f}s")
        time.sleep(_POLL_SECONDS)
