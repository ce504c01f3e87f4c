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
from autoscaler.locations import local_ports_name, stack_network_name
from autoscaler.stack.startup import ContainerState

STACK_LABEL = "com.docker.stack.namespace"
"""The label `docker stack deploy` puts on each service, network, volume and config of a
stack."""
DRAIN_CONFIG_VARIABLE = "COMPOSE_FLOWISE_DRAIN_CONFIG"
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
    image: str = ""
    """The image its tasks run, as the spec names it."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """The environment its tasks run with (the spec's: every task's)."""
    constraints: tuple[str, ...] = ()
    """Its placement constraints, as Swarm keeps them (`node.id==abc`)."""


def stack_services(stack: str, inspected: Iterable[Mapping[str, Any]]) -> dict[str, StackService]:
    """The stack's services by compose name, from `docker service inspect`'s JSON objects."""
    services = {}
    for service in inspected:
        spec = service.get("Spec") or {}
        name = str(spec.get("Name", "")).removeprefix(f"{stack}_")
        replicated = (spec.get("Mode") or {}).get("Replicated")
        template = spec.get("TaskTemplate") or {}
        restart = (template.get("RestartPolicy") or {}).get("Condition")
        ports = ((service.get("Endpoint") or {}).get("Ports")) or []
        container = template.get("ContainerSpec") or {}
        services[name] = StackService(
            name=name,
            replicas=int(replicated.get("Replicas", 1)) if replicated is not None else None,
            restarted=restart in (None, "any"),
            published=_published(ports),
            image=str(container.get("Image", "")),
            environment=dict(v.split("=", 1) for v in container.get("Env") or [] if "=" in v),
            constraints=tuple((template.get("Placement") or {}).get("Constraints") or ()),
        )
    return services


def data_node(deployed: Mapping[str, StackService], here: str) -> str:
    """The node the stack's data lives on: the one its deployed services are placed on (by
    id), or, before any is, `here`, the node of the manager that deploys it first."""
    for service in deployed.values():
        for constraint in service.constraints:
            field_name, _, node = constraint.replace(" ", "").partition("==")
            if field_name == "node.id" and node:
                return node
    return here


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
        DRAIN_CONFIG_VARIABLE: f"{_drain_config_prefix(stack)}{digest}",
    }


def stale_drain_configs(stack: str, config_names: Iterable[str], current: str) -> list[str]:
    """The drain script's configs of the stack's earlier deploys: every one but `current`."""
    prefix = _drain_config_prefix(stack)
    return sorted(n for n in config_names if n.startswith(prefix) and n != current)


def _drain_config_prefix(stack: str) -> str:
    return f"{stack}_drain-on-sigterm-"


@dataclass(frozen=True)
class LocalPorts:
    """A plain container on the manager, outside the stack, attached to the stack's network:
    it publishes Redis and nginx's stub_status on this host's 127.0.0.1 only, for the reads of
    compose-flowise, which Swarm cannot do (it publishes a port on every address)."""

    name: str
    image: str
    network: str
    published: tuple[tuple[str, int], ...]
    """(127.0.0.1:PORT on the host, the port inside), as python-on-whales' `publish` takes."""
    arguments: tuple[str, ...]
    """Python's (the entrypoint's): the forwarder's source, then LISTEN_PORT=SERVICE:PORT for
    each port."""
    entrypoint: str = "python3"

    @property
    def digest(self) -> str:
        """Changes with anything above: a container with another one is started anew."""
        described = json.dumps(
            [self.image, self.network, self.published, self.entrypoint, self.arguments]
        )
        return hashlib.sha256(described.encode()).hexdigest()[:12]


def local_ports(
    stack: str, env_values: Mapping[str, str], image: str, forwarder_source: str,
    nginx_service: str,
) -> LocalPorts:  # fmt: skip
    """The stack's LocalPorts: Redis at REDIS_HOST_PORT and stub_status at NGINX_STATUS_PORT,
    the .env's ports, as compose.yaml publishes them; run by `image`, the stack's Flowise image,
    which has Python."""
    redis_port = env_values.get("REDIS_HOST_PORT") or "6379"
    status_port = env_values.get("NGINX_STATUS_PORT") or "8081"
    return LocalPorts(
        name=local_ports_name(stack),
        image=image,
        network=stack_network_name(stack),
        published=((f"127.0.0.1:{redis_port}", 6379), (f"127.0.0.1:{status_port}", 8081)),
        arguments=("-c", forwarder_source, "6379=redis:6379", f"8081={nginx_service}:8081"),
    )


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
