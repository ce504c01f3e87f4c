"""A site on the test Swarm, for tests/e2e/test_swarm.py and bench/swarm.py: the three-node
cluster with the stack's images, and a folder of `init`'s set for the swarm backend, whose `up`
deploys the shipped stack file."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from flowise_stack import local_site, set_env
from harness import HarnessError, free_port, local_images, run_cli
from swarm_cluster import Node, SwarmCluster, swarm_cluster

from autoscaler import config as config_module
from autoscaler.actuators.swarm_jobs import JOB_LABEL
from autoscaler.config import Settings
from autoscaler.locations import local_ports_name
from autoscaler.shipped import shipped_path
from autoscaler.stack import swarm

NODES = 3
PUBLISHED = {"http": 80, "status": 8081, "redis": 6379}
"""Ports the manager node publishes on this host, each at a port of its own here."""


@contextmanager
def site_cluster(folder: Path, flowise_images: Sequence[str] = ()) -> Iterator[SwarmCluster]:
    """Three engines in one Swarm, the stand-in Flowise image and `flowise_images` in each, the
    stack's other images in the manager, which shares a folder (the upstream's, the stack
    folders') and the shipped nginx.conf with this host. One more port is published at the same
    number here as on the manager: where `up` finds nginx from this host; two more reach the
    manager's own 127.0.0.1, where `up` publishes Redis and stub_status."""
    shared = folder / "shared"
    (shared / "upstreams").mkdir(parents=True)
    images = local_images()
    on_the_manager = ("CF_IMAGE_NGINX", "CF_IMAGE_REDIS", "CF_IMAGE_POSTGRES", "CF_IMAGE_S3")
    same_port = free_port()
    with swarm_cluster(
        folder,
        NODES,
        images=[images["CF_IMAGE_STANDIN"], *flowise_images],
        manager_images=[images[name] for name in on_the_manager],
        shared=[shared, shipped_path("nginx/nginx.conf")],
        ports={**{port: free_port() for port in PUBLISHED.values()}, same_port: same_port},
        loopback_ports=(free_port(), free_port()),
    ) as running:
        yield running


def remove_stack(cluster: SwarmCluster, stack: str, timeout: float = 120) -> None:
    """`down`'s `docker stack rm`, then until nothing of the stack is left on the manager."""
    swarm.remove_stack(cluster.client(), stack)
    wait_until_gone(cluster, stack, timeout)


def wait_until_gone(cluster: SwarmCluster, stack: str, timeout: float = 60) -> None:
    """Until no container of the stack is left on the manager (its ports are free again)."""
    deadline = time.monotonic() + timeout
    label = f"label=com.docker.stack.namespace={stack}"
    while cluster.manager.docker("ps", "--all", "--quiet", "--filter", label).strip():
        if time.monotonic() > deadline:
            raise HarnessError(f"the stack {stack} is still there after {timeout}s")
        time.sleep(0.5)


@dataclass
class SwarmFolder:
    """A stack folder of `init`'s on the manager's shared folder, set for the swarm backend."""

    cluster: SwarmCluster
    config_file: Path
    project: str
    http_port: int

    @property
    def folder(self) -> Path:
        return self.config_file.parent

    @property
    def settings(self) -> Settings:
        return config_module.load(self.config_file, {}).settings

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_cli(*args, "--config", str(self.config_file))

    def replicas(self, service: str) -> int:
        """The count Swarm keeps for the service (its spec's)."""
        output = self.cluster.manager.docker("service", "inspect", f"{self.project}_{service}")
        return json.loads(output)[0]["Spec"]["Mode"]["Replicated"]["Replicas"]

    def daemon_config(self, folder: Path, services: dict, node: Node | None = None) -> Path:
        """The folder's config (init's) with `services`, its state in `folder`, a tick a
        second and no metrics port; as on `node` (the manager by default): Redis and
        stub_status where this host reaches that node's own 127.0.0.1."""
        settings = tomllib.loads(self.config_file.read_text())
        settings["daemon"] = {"interval_seconds": 1, "state_file": str(folder / "state.json"),
                              "metrics_port": 0}  # fmt: skip
        settings["services"] = services
        node = node or self.cluster.manager
        for port in self.cluster.loopback_ports:
            there, here = (
                f"127.0.0.1:{port}/",
                f"127.0.0.1:{self.cluster.loopback_port(node, port)}/",
            )
            settings["redis"]["url"] = settings["redis"]["url"].replace(there, here)
            status = settings["nginx"]["stub_status_url"]
            settings["nginx"]["stub_status_url"] = status.replace(there, here)
        path = folder / f"{node.name}.toml"
        path.write_text(tomli_w.dumps(settings))
        path.chmod(0o600)
        return path

    def constraints(self, service: str) -> list[str]:
        """The service's placement constraints, as Swarm keeps them."""
        output = self.cluster.manager.docker("service", "inspect", f"{self.project}_{service}")
        placement = json.loads(output)[0]["Spec"]["TaskTemplate"].get("Placement") or {}
        return placement.get("Constraints") or []

    def hostnames(self, service: str) -> dict[str, str]:
        """Each running task of the service -> its container's hostname (the container's id,
        shortened), which the stand-in answers with."""
        each = "{{.ID}} {{.Status.ContainerStatus.ContainerID}}"
        tasks = self.running_tasks(service)
        output = self.cluster.manager.docker("inspect", "--type", "task", "--format", each, *tasks)
        return {task: container[:12] for task, container in map(str.split, output.splitlines())}

    def stopping(self, service: str, count: int, scale_in) -> tuple[set[str], float]:
        """The tasks Swarm stops when `scale_in()` brings the service to `count`, and when."""
        before = self.running_tasks(service)
        since = time.monotonic()
        scale_in()
        return before - self.tasks_after(service, count), since

    def tasks_after(self, service: str, count: int, timeout: float = 30) -> set[str]:
        """The service's running tasks once Swarm wants `count` of them running."""
        deadline = time.monotonic() + timeout
        while len(tasks := self.running_tasks(service)) != count:
            if time.monotonic() > deadline:
                raise HarnessError(f"{len(tasks)} tasks of {service} after {timeout}s")
            time.sleep(0.2)
        return tasks

    def running_tasks(self, service: str) -> set[str]:
        """The ids of the service's tasks Swarm wants running."""
        output = self.cluster.manager.docker(
            "service", "ps", f"{self.project}_{service}", "--no-trunc", "--quiet",
            "--filter", "desired-state=running")  # fmt: skip
        return set(output.split())

    def a_worker_node_running(self, service: str) -> tuple[str, set[str]]:
        """A node other than the manager that runs tasks of the service, and those tasks."""
        output = self.cluster.manager.docker(
            "service", "ps", f"{self.project}_{service}", "--no-trunc",
            "--filter", "desired-state=running", "--format", "{{.ID}} {{.Node}}")  # fmt: skip
        nodes = dict(map(str.split, output.splitlines()))
        node = next(n for n in nodes.values() if n != self.cluster.manager.name)
        return node, {task for task, on in nodes.items() if on == node}

    def local_ports(self) -> dict:
        """The container `up` publishes Redis and stub_status with on the manager: its id, and
        the addresses its ports are bound to (HostIp:HostPort)."""
        name = local_ports_name(self.project)
        inspected = json.loads(self.cluster.manager.docker("container", "inspect", name))[0]
        ports = inspected["HostConfig"]["PortBindings"].values()
        bindings = [f"{b['HostIp']}:{b['HostPort']}" for listed in ports for b in listed]
        return {"id": inspected["Id"], "bindings": bindings}

    def volumes(self) -> list[str]:
        """The stack's volumes on the manager."""
        label = f"label=com.docker.stack.namespace={self.project}"
        return self.cluster.manager.docker("volume", "ls", "--quiet", "--filter", label).split()

    def left_on(self, nodes: tuple[Node, ...]) -> list[str]:
        """Whatever of the stack these nodes still have: containers, networks, volumes; and
        the services and tasks Swarm still knows."""
        label = f"label=com.docker.stack.namespace={self.project}"
        manager = self.cluster.manager
        left = [f"service {name}" for name in manager.docker(
            "service", "ls", "--quiet", "--filter", label).split()]  # fmt: skip
        left += [f"job {name}" for name in manager.docker(
            "service", "ls", "--quiet", "--filter", f"label={JOB_LABEL}={self.project}").split()]  # fmt: skip
        left += [f"task {task}" for task in self.tasks_swarm_knows()]
        for node in nodes:
            for kind in (("ps", "--all"), ("network", "ls"), ("volume", "ls")):
                names = node.docker(*kind, "--quiet", "--filter", label).split()
                left += [f"{node.name}: {kind[0]} {name}" for name in names]
        return left

    def tasks_swarm_knows(self) -> list[str]:
        """The stack's tasks in Swarm's store, on any node, whatever their state."""
        try:
            return self.cluster.manager.docker("stack", "ps", self.project, "--quiet").split()
        except HarnessError as error:
            if "nothing found in stack" in str(error):
                return []
            raise


@contextmanager
def site_folder(cluster: SwarmCluster) -> Iterator[SwarmFolder]:
    """`init` of a folder the manager shares, its .env at the local images, its config on the
    swarm backend and the shipped stack file; Redis and stub_status where `up` publishes them,
    on the manager's 127.0.0.1 (which this host reaches). Whatever `up` deployed is removed at
    the end, volumes and all, even on failure."""
    project = f"cfup{secrets.token_hex(3)}"
    folder = cluster.shared[0] / project
    http_port = next(port for port, here in cluster.published.items() if port == here)
    redis_port, status_port = cluster.loopback_ports
    init = run_cli("init", str(folder), "--project-name", project, "--http-port", str(http_port),
                   "--redis-port", str(redis_port), "--status-port", str(status_port))  # fmt: skip
    if init.returncode != 0:
        raise HarnessError(f"compose-flowise init failed: {init.stderr}")
    set_env(folder / ".env", {**local_site(), "FLOWISE_HTTP_ADDRESS": ""})  # Swarm: every address
    config_file = folder / "config.toml"
    written = tomllib.loads(config_file.read_text())
    files = [str(shipped_path("compose/swarm.yaml"))]
    written["compose"] |= {"backend": "swarm", "ready_timeout_seconds": 180, "files": files}
    config_file.write_text(tomli_w.dumps(written))
    swarm = SwarmFolder(cluster, config_file, project, http_port)
    try:
        yield swarm
    finally:
        cluster.client().container.remove(local_ports_name(project), force=True)
        try:
            remove_stack(cluster, project)
        finally:
            if volumes := swarm.volumes():
                cluster.manager.docker("volume", "rm", *volumes)
