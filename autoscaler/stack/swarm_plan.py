"""What `up` and `down` do on a Docker Swarm, and what they read of it: the stack's services as
`docker service inspect` reports them, the counts a deploy keeps, when the deployed stack is
ready. Purely computational, no I/O here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoscaler.actuators.replicas import Snapshot
from autoscaler.errors import BadInput
from autoscaler.stack.startup import ContainerState

STACK_LABEL = "com.docker.stack.namespace"
"""The label `docker stack deploy` puts on each service, network and volume of a stack."""
_WILDCARDS = {"", "0.0.0.0", "::"}


@dataclass(frozen=True)
class StackService:
    """One service of the stack, as Swarm keeps its spec."""

    name: str
    """The compose service's name, without the stack's prefix."""
    replicas: int | None
    """The count Swarm keeps running; None for a global service (one task a node)."""
    restarted: bool = True
    """Swarm starts its task again whatever the way it ended. False for a one-shot service (a
    restart condition `on-failure` or `none`): its task, once ended well, is not replaced."""
    published: Mapping[int, int] = field(default_factory=dict)
    """Its target port -> the port published on the node."""


def stack_services(stack: str, inspected: Iterable[Mapping[str, Any]]) -> dict[str, StackService]:
    """The stack's services by compose name, from `docker service inspect`'s JSON objects."""
    services = {}
    for service in inspected:
        spec = service.get("Spec") or {}
        name = str(spec.get("Name", "")).removeprefix(f"{stack}_")
        replicated = (spec.get("Mode") or {}).get("Replicated")
        restart = ((spec.get("TaskTemplate") or {}).get("RestartPolicy") or {}).get("Condition")
        ports = ((service.get("Endpoint") or {}).get("Ports")) or []
        services[name] = StackService(
            name=name,
            replicas=int(replicated.get("Replicas", 1)) if replicated is not None else None,
            restarted=restart in (None, "any"),
            published=_published(ports),
        )
    return services


def _published(ports: Iterable[Mapping[str, Any]]) -> dict[int, int]:
    return {int(p["TargetPort"]): int(p["PublishedPort"]) for p in ports if p.get("PublishedPort")}


def replicas_override(counts: Mapping[str, int]) -> str:
    """A stack file that sets only each service's replicas: deployed after the others, it keeps
    the counts given. JSON, which is YAML too."""
    services = {name: {"deploy": {"replicas": count}} for name, count in counts.items()}
    return json.dumps({"services": services}, indent=2) + "\n"


def drain_script_variables(stack: str, script: Path, content: bytes) -> dict[str, str]:
    """The stack file's variables for the mains' drain-on-SIGTERM script: its path, and the name
    of the Swarm config that carries it to every node, after its `content` (Swarm refuses to
    change a config's content under the same name)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    return {
        "COMPOSE_FLOWISE_DRAIN_SCRIPT": str(script),
        "COMPOSE_FLOWISE_DRAIN_CONFIG": f"{stack}_drain-on-sigterm-{digest}",
    }


def resolve_image(env_values: Mapping[str, str]) -> str:
    """`docker stack deploy --resolve-image`: never ask a registry for the images' digests where
    the .env says every image is local (PULL_POLICY=never, as for compose), else always (every
    node then runs the same image, even for a tag pushed again)."""
    return "never" if env_values.get("PULL_POLICY") == "never" else "always"


def refuse_bound_address(env_values: Mapping[str, str], env_file: str) -> None:
    """Swarm publishes a port on every address of the node: FLOWISE_HTTP_ADDRESS, which binds
    compose's port to one address, cannot be honoured, and the operator must know."""
    address = env_values.get("FLOWISE_HTTP_ADDRESS", "")
    if address not in _WILDCARDS:
        raise BadInput(
            f"FLOWISE_HTTP_ADDRESS={address} in {env_file}: Swarm publishes nginx's port on "
            "every address of the manager and cannot bind it to one; remove the line (and keep "
            "the port from where it must not be reached with a firewall)"
        )


def tasks_wanted(services: Mapping[str, StackService]) -> dict[str, int]:
    """How many running tasks each service should show once the stack is up: a one-shot
    service's task ends, and is then no longer wanted running."""
    return {
        name: service.replicas or 0
        for name, service in services.items()
        if service.restarted and service.replicas is not None
    }


def task_states(wanted: Mapping[str, int], snapshot: Snapshot) -> list[ContainerState]:
    """The stack's tasks as `readiness` judges containers; a task Swarm has not made yet
    counts as one still waited for."""
    states = []
    for service, count in wanted.items():
        replicas = snapshot.get(service, [])
        states += [ContainerState(r.name, r.state, r.health, 0) for r in replicas]
        missing = count - len(replicas)
        states += [ContainerState(service, "no task yet", None, 0)] * max(0, missing)
    return states
