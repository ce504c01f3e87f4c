"""`up` and `down` on a Docker Swarm (`[compose] backend = "swarm"`): the stack file deployed
as the stack `project_name` through this manager's engine, its tasks waited for and routed; or
the stack removed.

Talks to the manager's Docker engine, to nginx through the actuators, and to the URL `up`
announces.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from python_on_whales import DockerClient, DockerException, Volume
from python_on_whales.utils import run

from autoscaler.actuators.docker_calls import docker_output
from autoscaler.actuators.replicas import count
from autoscaler.actuators.swarm_jobs import JOB_START_SECONDS, NodeJob, run_job
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.locations import local_ports_name
from autoscaler.runtime import wiring
from autoscaler.shipped import shipped_path
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.files import ensure_upstream
from autoscaler.stack.lifecycle import (
    Progress,
    Started,
    require_env_file,
    wait_until_ready,
    wait_until_serving,
)
from autoscaler.stack.startup import ContainerState, first_start_scales, initial_scales
from autoscaler.stack.swarm_plan import (
    DRAIN_CONFIG_VARIABLE,
    STACK_LABEL,
    LocalPorts,
    StackService,
    data_node,
    drain_script_variables,
    local_ports,
    refuse_bound_address,
    replicas_override,
    resolve_image,
    stack_services,
    stale_drain_configs,
    task_states,
    tasks_wanted,
)

STACK_DIRECTORY_VARIABLE = "COMPOSE_FLOWISE_DIR"
"""The stack's folder, for the stack file's paths: Swarm resolves a relative one next to the
first stack file, the shipped one."""
DATA_NODE_VARIABLE = "COMPOSE_FLOWISE_DATA_NODE"
"""The id of the node Postgres, Redis, MinIO and nginx are placed on, with their volumes."""
FORWARDER_SCRIPT = "compose/forward-ports.py"
"""What publishes Redis and stub_status on the manager's 127.0.0.1 (`LocalPorts`)."""
LOCAL_PORTS_DIGEST_LABEL = "compose-flowise.local-ports"
"""Carries the `LocalPorts.digest` a forwarder was started with."""
DRAIN_SCRIPT = "compose/drain-on-sigterm.sh"
"""What the mains run under on a Swarm: it holds SIGTERM until nginx has no request in flight
to them."""
_GONE_TIMEOUT_SECONDS = 120.0
"""How long `down` waits for Swarm to stop and forget the stack's tasks (a worker's grace
period: 40 s)."""
_POLL_SECONDS = 0.5
_NOTHING_IN_STACK = "nothing found in stack"
_IN_USE_BY_TASK = "in use by task"
"""What Swarm says of a network it keeps for a task that still runs."""
"""What `docker stack ps` says, exiting 1, once Swarm knows no task of the stack."""


def up(settings: Settings, progress: Progress) -> Started:
    """The stack deployed with each scaled service at its min, or at the count Swarm keeps for
    it now when that is more: a redeploy keeps the counts the autoscaler set, and the data
    node. From nothing deployed, one main alone first (it migrates the database). On another
    manager than nginx's node, it also publishes Redis and stub_status there, for a daemon of
    that manager: nothing deployed changes."""
    require_env_file(settings)
    env_values = _env_values(settings)
    refuse_bound_address(env_values, str(settings.compose.env_path))
    if ensure_upstream(settings):
        progress(f"wrote {settings.nginx.upstream_file}: nginx answers 503 until a replica is fit")
    docker = wiring.docker_client(settings)
    transaction = wiring.transaction(settings)
    stack = settings.compose.project_name
    deployed = deployed_services(docker, stack)
    variables = {
        **env_values,
        **stack_file_variables(settings, data_node(deployed, this_node(docker))),
    }
    kept = {name: s.replicas for name, s in deployed.items() if s.replicas}
    scales = initial_scales(settings.services, kept)
    first = settings.nginx.upstream_service
    staged = first_start_scales(scales, kept, first)
    if staged:
        progress(f"deploying the stack {stack} with one {first} alone first, to migrate the "
                 "database")  # fmt: skip
        _deploy_and_wait(docker, transaction, settings, variables, staged, progress)
    listed = ", ".join(f"{name} x{replicas}" for name, replicas in scales.items())
    progress(f"deploying the stack {stack}: {listed}")
    _deploy_and_wait(docker, transaction, settings, variables, scales, progress)
    _remove_stale_drain_configs(docker, stack, variables[DRAIN_CONFIG_VARIABLE], progress)
    services = deployed_services(docker, stack)
    _publish_local_ports(docker, settings, env_values, services, progress)
    with failing_as("route nginx to the fit tasks"):
        snapshot = transaction.snapshot()
        transaction.reconcile(snapshot)
    nginx = next(
        (r for r in snapshot.get(settings.nginx.service, []) if r.state == "running"), None
    )
    port = _public_port(services, settings.nginx.service)
    if nginx is not None and not transaction.upstream.reaches(nginx):
        progress(f"nginx runs on {nginx.node}, not on this manager: the daemon there routes it; "
                 "here, the daemon scales when it leads")  # fmt: skip
        url = f"http://{nginx.node}:{port}"  # published on nginx's node only: not probed here
    else:
        wait_until_serving(f"http://127.0.0.1:{port}")
        url = f"http://localhost:{port}"
    return Started(url, {name: count(snapshot.get(name, [])).running for name in settings.services})


def down(settings: Settings, volumes: bool) -> list[str]:
    """`docker stack rm`, waiting until Swarm knows none of the stack's tasks any more and its
    containers and network are gone from this manager; with `volumes`, its volumes on this
    manager removed too, and their names returned (an engine sees only its own node's)."""
    docker = wiring.docker_client(settings)
    stack = settings.compose.project_name
    _remove_local_ports(docker, settings)
    remove_stack(docker, stack)
    _wait_until_gone(docker, stack)
    if not volumes:
        return []
    with failing_as(f"remove the volumes of the stack {stack}"):
        found = docker.volume.list(filters=[("label", f"{STACK_LABEL}={stack}")])
        names = sorted(volume.name for volume in found)
        docker.volume.remove(list[Volume | str](names))
    return names


def remove_stack(docker: DockerClient, stack: str) -> None:
    """`docker stack rm`, which removes the network right after the services: while one of
    their tasks still stops, Swarm refuses (`in use by task`), and it is run again, removing
    what is left, until the tasks are gone."""
    deadline = time.monotonic() + _GONE_TIMEOUT_SECONDS
    while True:
        with failing_as(f"docker stack rm {stack}"):
            try:
                docker.stack.remove(stack)
                return
            except DockerException as error:
                if _IN_USE_BY_TASK not in (error.stderr or "") or time.monotonic() > deadline:
                    raise
        time.sleep(_POLL_SECONDS)


def _remove_stale_drain_configs(
    docker: DockerClient, stack: str, current: str, progress: Progress
) -> None:
    """The drain script's configs of earlier deploys, which `docker stack deploy` leaves behind
    (a config's content cannot change, so each script has its own). One a service still uses
    is refused by Swarm: the next `up` removes it."""
    with failing_as(f"list the configs of the stack {stack}"):
        configs = docker.config.list(filters={"label": f"{STACK_LABEL}={stack}"})
        names = [config.spec.name or "" for config in configs]
    for name in stale_drain_configs(stack, names, current):
        try:
            docker.config.remove(name)
        except DockerException:
            continue
        progress(f"removed {name}, the drain script's config of an earlier deploy")


def _remove_local_ports(docker: DockerClient, settings: Settings) -> None:
    """`<project>_local-ports` removed from every node where `up` ran (a manager then), by a
    job on each node, since this engine reaches only its own: while one is attached to the
    stack's network, Swarm keeps the network. The job runs the mains' image, which the nodes
    have; a stack without mains leaves it to this manager's engine."""
    stack = settings.compose.project_name
    name = local_ports_name(stack)
    main = deployed_services(docker, stack).get(settings.nginx.upstream_service)
    if main is not None and main.image:
        job = NodeJob(stack=stack, name=f"{stack}_remove-local-ports", image=main.image,
                      action="remove", container=name, mode="global-job")  # fmt: skip
        run_docker = partial(docker_output, docker)
        run_job(run_docker, job, f"remove {name} on every node", JOB_START_SECONDS)
    with failing_as(f"remove {name}"):
        docker.container.remove(name, force=True)


def _publish_local_ports(
    docker: DockerClient,
    settings: Settings,
    env_values: Mapping[str, str],
    services: Mapping[str, StackService],
    progress: Progress,
) -> None:
    """Redis and stub_status on this manager's 127.0.0.1, through a container of the stack's
    Flowise image on the stack's network; one already running as wanted is kept."""
    stack = settings.compose.project_name
    main = services.get(settings.nginx.upstream_service)
    if main is None:
        raise StackError(f"the stack {stack} has no service {settings.nginx.upstream_service}")
    with failing_as(f"read {shipped_path(FORWARDER_SCRIPT)}"):
        source = shipped_path(FORWARDER_SCRIPT).read_text(encoding="utf-8")
    wanted = local_ports(stack, env_values, main.image, source, settings.nginx.service)
    with failing_as(f"start {wanted.name}"):
        if _running_digest(docker, wanted.name) == wanted.digest:
            return
        docker.container.remove(wanted.name, force=True)
        _run_local_ports(docker, stack, wanted)
    listed = " and ".join(address for address, _ in wanted.published)
    progress(f"Redis and nginx's stub_status published on {listed}, for compose-flowise "
             f"(the container {wanted.name})")  # fmt: skip


def _running_digest(docker: DockerClient, name: str) -> str | None:
    """The LocalPorts digest of the container `name` if it runs, else None."""
    if not docker.container.exists(name):
        return None
    container = docker.container.inspect(name)
    if not container.state.running:
        return None
    return (container.config.labels or {}).get(LOCAL_PORTS_DIGEST_LABEL)


def _run_local_ports(docker: DockerClient, stack: str, wanted: LocalPorts) -> None:
    """Started again by its engine after a reboot; labelled as the stack's, so that what looks
    for the stack's leftovers finds it."""
    docker.container.run(
        wanted.image,
        list(wanted.arguments),
        entrypoint=wanted.entrypoint,
        name=wanted.name,
        detach=True,
        networks=[wanted.network],
        publish=list(wanted.published),
        restart="always",
        labels={STACK_LABEL: stack, LOCAL_PORTS_DIGEST_LABEL: wanted.digest},
    )


def _env_values(settings: Settings) -> dict[str, str]:
    with failing_as(f"read {settings.compose.env_path}"):
        return parse_env(settings.compose.env_path.read_text(encoding="utf-8"))


def _deploy_and_wait(
    docker: DockerClient,
    transaction: ScaleTransaction,
    settings: Settings,
    variables: Mapping[str, str],
    scales: Mapping[str, int],
    progress: Progress,
) -> None:
    stack = settings.compose.project_name
    _deploy(docker, settings, variables, scales)

    def states() -> list[ContainerState]:
        with failing_as("read the stack's tasks"):
            return task_states(
                tasks_wanted(deployed_services(docker, stack)), transaction.snapshot()
            )

    hint = f"`docker service ps {stack}_SERVICE` and `docker service logs {stack}_SERVICE`"
    wait_until_ready(states, settings.compose.ready_timeout_seconds, progress, hint)


def _deploy(
    docker: DockerClient,
    settings: Settings,
    variables: Mapping[str, str],
    scales: Mapping[str, int],
) -> None:
    """`docker stack deploy` of the configured files, then one that sets only the scaled
    services' replicas (`scales`), with `variables`: the .env's values and the stack file's."""
    compose = settings.compose
    with TemporaryDirectory(prefix="compose-flowise-") as folder:
        counts = Path(folder) / "replicas.yaml"
        counts.write_text(replicas_override(scales))
        files: list[str | Path] = [*(compose.directory / f for f in compose.files), counts]
        with failing_as(f"docker stack deploy {compose.project_name}"):
            docker.stack.deploy(
                compose.project_name,
                files,
                resolve_image=resolve_image(variables),
                # the other nodes pull with this manager's registry login, if any
                with_registry_auth=True,
                variables=dict(variables),
            )


def stack_file_variables(settings: Settings, data_node: str) -> dict[str, str]:
    """What the stack file asks of `up` beside the .env's values: the stack's folder, the node
    its data lives on, and the mains' drain-on-SIGTERM script and its Swarm config."""
    stack = settings.compose.project_name
    script = shipped_path(DRAIN_SCRIPT)
    with failing_as(f"read {script}"):
        content = script.read_bytes()
    return {
        STACK_DIRECTORY_VARIABLE: str(settings.compose.directory),
        DATA_NODE_VARIABLE: data_node,
        **drain_script_variables(stack, script, content),
    }


def this_node(docker: DockerClient) -> str:
    """The id of this manager's node in the Swarm."""
    with failing_as("docker info"):
        swarm = docker.system.info().swarm
    node = swarm.node_id if swarm else None
    if not node:
        raise StackError("this Docker engine is in no Swarm: run compose-flowise on a manager "
                         "(`docker swarm init` makes this host one)")  # fmt: skip
    return node


def deployed_services(docker: DockerClient, stack: str) -> dict[str, StackService]:
    """The stack's services as Swarm keeps them; none before the first deploy. (python-on-whales'
    Service model leaves out the restart policy.)"""
    command = docker.client_config.docker_cmd
    with failing_as(f"read the services of the stack {stack}"):
        ids = run([*command, "service", "ls", "--quiet", "--filter",
                   f"label={STACK_LABEL}={stack}"], return_stderr=False).split()  # fmt: skip
        if not ids:
            return {}
        inspected = _json(run([*command, "service", "inspect", *ids], return_stderr=False))
    return stack_services(stack, inspected)


def _json(text: str) -> list[dict[str, Any]]:
    listed = json.loads(text)
    return listed if isinstance(listed, list) else []


def _public_port(services: Mapping[str, StackService], nginx_service: str) -> int:
    """nginx's public port: Swarm publishes it on each address of nginx's node."""
    nginx = services.get(nginx_service)
    port = nginx.published.get(80) if nginx else None
    if port is None:
        raise StackError(f"the service {nginx_service} publishes no port for its port 80")
    return port


def _wait_until_gone(docker: DockerClient, stack: str) -> None:
    """Until none of the stack's tasks is left on any node, and none of its containers and
    networks on this manager: the tasks stop within their grace period, and Swarm forgets them
    once they have."""
    deadline = time.monotonic() + _GONE_TIMEOUT_SECONDS
    command = docker.client_config.docker_cmd
    label = f"label={STACK_LABEL}={stack}"
    while True:
        # Names straight from the listings: python-on-whales' lists inspect each container
        # after listing it, and fail on one removed in between.
        with failing_as(f"read what is left of the stack {stack}"):
            left = [f"task {name}" for name in _tasks_left(docker, stack)]
            left += run([*command, "ps", "--all", "--filter", label, "--format", "{{.Names}}"],
                        return_stderr=False).split()  # fmt: skip
            left += [f"network {name}" for name in run(
                [*command, "network", "ls", "--filter", label, "--format", "{{.Name}}"],
                return_stderr=False).split()]  # fmt: skip
        if not left:
            return
        if time.monotonic() >= deadline:
            raise StackError(
                f"the stack {stack} is still being removed after {_GONE_TIMEOUT_SECONDS:.0f}s: "
                f"{', '.join(left)} left; run `compose-flowise down` again"
            )
        time.sleep(_POLL_SECONDS)


def _tasks_left(docker: DockerClient, stack: str) -> list[str]:
    """The names of the stack's tasks Swarm still knows, on every node, whatever their state."""
    command = [*docker.client_config.docker_cmd, "stack", "ps", stack, "--no-trunc",
               "--format", "{{.Name}}"]  # fmt: skip
    try:
        listing = run(command, return_stderr=False)
    except DockerException as error:
        if _NOTHING_IN_STACK in (error.stderr or ""):
            return []
        raise
    # a task that replaced another of the same slot is listed ` \_ `-indented
    return [line.strip(" \\_") for line in listing.splitlines() if line.strip()]
