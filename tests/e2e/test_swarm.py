"""The stack and the daemon on a real three-node Docker Swarm (swarm_cluster.py): stand-in
Flowise services spread over the nodes, nginx on the manager routing to the tasks' addresses."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from harness import (
    E2E,
    Daemon,
    HarnessError,
    Load,
    add_jobs,
    free_port,
    local_images,
    run_cli,
    wait_until_routable,
    wait_until_serving,
)
from swarm_cluster import Node, SwarmCluster, swarm_cluster

from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.actuators.upstream import render_upstream
from autoscaler.config import Settings
from autoscaler.runtime import wiring
from autoscaler.shipped import shipped_path

pytestmark = pytest.mark.e2e

NODES = 3
QUEUE = "flowise-queue-prediction"
STACK_FILE = E2E / "swarm-stack.yaml"
PUBLISHED = {"http": 80, "status": 8081, "redis": 6379}


@dataclass
class SwarmStack:
    cluster: SwarmCluster
    settings: Settings
    http_url: str

    def tasks(self, service: str) -> list[dict[str, str]]:
        """The service's tasks Swarm wants running: their state and node."""
        listed = self.cluster.client().service.ps(f"{self.settings.compose.project_name}_{service}")
        wanted = [task for task in listed if task.desired_state == "running"]
        return [{"id": t.id, "state": t.status.state or "", "node": t.node_id} for t in wanted]

    def config_file(self, path: Path, services: dict) -> Path:
        settings = self.settings.model_dump(mode="json", exclude_none=True)
        daemon = {"interval_seconds": 1, "state_file": str(path.parent / "state.json"),
                  "metrics_port": 0}  # fmt: skip
        path.write_text(tomli_w.dumps({**settings, "daemon": daemon, "services": services}))
        path.chmod(0o600)
        return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmCluster]:
    """Three engines in one Swarm, the stand-in Flowise image in each, nginx's and Redis's in
    the manager, which shares a folder (the upstream's) and the shipped nginx.conf with this
    host."""
    folder = tmp_path_factory.mktemp("swarm")
    shared = folder / "shared"
    (shared / "upstreams").mkdir(parents=True)
    images = local_images()
    try:
        with swarm_cluster(
            folder,
            NODES,
            images=[images["CF_IMAGE_STANDIN"]],
            manager_images=[images["CF_IMAGE_NGINX"], images["CF_IMAGE_REDIS"]],
            shared=[shared, shipped_path("nginx/nginx.conf")],
            ports={port: free_port() for port in PUBLISHED.values()},
        ) as running:
            yield running
    except HarnessError as error:
        pytest.fail(str(error))


@pytest.fixture
def stack(cluster: SwarmCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[SwarmStack]:
    """The stack deployed under a name of its own, one fit main routed; removed at the end.
    Everything run meanwhile (the daemon too) talks to the manager's engine, as on a manager."""
    monkeypatch.setenv("DOCKER_HOST", cluster.docker_host)
    name = f"cfe2e{secrets.token_hex(3)}"
    upstream_file = cluster.shared[0] / "upstreams" / "flowise.conf"
    upstream_file.write_text(render_upstream("flowise", []))
    password = secrets.token_hex(8)
    variables = {
        **local_images(),
        "CF_NGINX_CONF": str(shipped_path("nginx/nginx.conf")),
        "CF_UPSTREAM_DIR": str(upstream_file.parent),
        "CF_REDIS_PASSWORD": password,
    }
    ports = {key: cluster.published[port] for key, port in PUBLISHED.items()}
    settings = Settings.model_validate({
        "compose": {"backend": "swarm", "project_name": name, "files": [str(STACK_FILE)],
                    "directory": str(upstream_file.parent), "ready_timeout_seconds": 120},
        "redis": {"url": f"redis://:{password}@127.0.0.1:{ports['redis']}/0"},
        "nginx": {"stub_status_url": f"http://127.0.0.1:{ports['status']}/nginx_status",
                  "upstream_file": str(upstream_file), "drain_timeout_seconds": 30},
    })  # fmt: skip
    docker = cluster.client()
    try:
        docker.stack.deploy(name, [STACK_FILE], variables=variables, resolve_image="never")
        running = SwarmStack(cluster, settings, f"http://127.0.0.1:{ports['http']}")
        scaler = wiring.transaction(settings)
        _wait_for_nginx(scaler)
        wait_until_routable(scaler, 1, timeout=120)
        wait_until_serving(running.http_url)
        yield running
    except HarnessError as error:
        pytest.fail(str(error))
    finally:
        docker.stack.remove(name)
        _wait_until_gone(cluster, name)


def _wait_for_nginx(scaler: ScaleTransaction, timeout: float = 120) -> None:
    """Until nginx's task runs: `stack deploy` does not wait for any."""
    deadline = time.monotonic() + timeout
    while not any(r.routable for r in scaler.snapshot().get("nginx", [])):
        if time.monotonic() > deadline:
            raise HarnessError(f"nginx does not run after {timeout}s")
        time.sleep(0.5)


def _wait_until_gone(cluster: SwarmCluster, stack: str, timeout: float = 60) -> None:
    """Until no container of the stack is left on the manager (its ports are free again)."""
    deadline = time.monotonic() + timeout
    label = f"label=com.docker.stack.namespace={stack}"
    while cluster.manager.docker("ps", "--all", "--quiet", "--filter", label).strip():
        if time.monotonic() > deadline:
            raise HarnessError(f"the stack {stack} is still there after {timeout}s")
        time.sleep(0.5)


def services() -> dict:
    return {
        "flowise": {
            "min_replicas": 1, "max_replicas": 3,
            "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}],
        },
        "flowise-worker": {
            "min_replicas": 1, "max_replicas": 3,
            "signals": [{"kind": "bullmq_queue", "queue": QUEUE,
                         "jobs_per_second_per_replica": 1, "drain_backlog_seconds": 10}],
        },
    }  # fmt: skip


def test_three_engines_form_one_swarm_each_with_the_images(cluster: SwarmCluster) -> None:
    for node in cluster.nodes:
        assert node.docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() == "active"
        assert node.docker("image", "inspect", "--format", "ok", local_images()["CF_IMAGE_STANDIN"])
    ready = cluster.manager.docker("node", "ls", "--format", "{{.Status}}").split()
    assert ready == ["Ready"] * NODES


def test_the_daemon_scales_workers_and_mains_across_nodes(stack: SwarmStack, tmp_path) -> None:
    config = stack.config_file(tmp_path / "config.toml", services())
    add_jobs(stack.settings, QUEUE, 30)
    with Load(stack.http_url, hold_ms=4000, clients=12) as load:
        time.sleep(1)  # every client's request is in flight
        result = run_cli("daemon", "--once", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "flowise-worker 1 -> 3" in result.stderr and "flowise 1 -> 3" in result.stderr
    for service in ("flowise", "flowise-worker"):
        tasks = stack.tasks(service)
        assert [t["state"] for t in tasks] == ["running"] * 3
        assert len({t["node"] for t in tasks}) > 1, "Swarm spreads the tasks over the nodes"
    snapshot = wiring.transaction(stack.settings).snapshot()
    addresses = sorted(r.address_on(r.addresses) for r in snapshot["flowise"])
    upstream = stack.settings.nginx.upstream_file.read_text()
    assert [a for a in addresses if f"server {a}:3000 " in upstream] == addresses
    assert load.answers and not load.failures
    with Load(stack.http_url, hold_ms=200, clients=6) as after:
        time.sleep(3)
    assert after.answers and not after.failures
    assert len({a.hostname for a in after.answers}) == 3, "nginx routes to every main"


def test_a_node_that_goes_down_leaves_the_upstream_and_its_main_comes_back_elsewhere(
    stack: SwarmStack, tmp_path
) -> None:
    steady = {"min_replicas": 3, "max_replicas": 3,
              "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}]}  # fmt: skip
    config = stack.config_file(
        tmp_path / "config.toml", {"flowise": steady, "flowise-worker": False}
    )
    scaler = wiring.transaction(stack.settings)
    scaler.scale("flowise", 3, scaler.snapshot())
    victim, lost = _a_worker_node_with_a_main(stack)
    assert lost, "the upstream routes to the victim's main"
    daemon = Daemon(config)
    try:
        daemon.wait_for(r"tick \(leading")
        victim.stop()
        try:
            _wait_for_upstream(stack, lambda listed: len(listed) == 3 and not listed & lost)
        finally:
            victim.start()
    finally:
        assert daemon.stop() == 0
    with Load(stack.http_url, hold_ms=200, clients=6) as after:
        time.sleep(3)
    assert after.answers and not after.failures


def _a_worker_node_with_a_main(stack: SwarmStack) -> tuple[Node, set[str]]:
    """A node other than the manager that runs a main, and its mains' upstream servers."""
    hostnames = dict(
        line.split() for line in stack.cluster.manager.docker(
            "node", "ls", "--format", "{{.ID}} {{.Hostname}}").splitlines()
    )  # fmt: skip
    tasks = stack.tasks("flowise")
    node_name = next(hostnames[t["node"]] for t in tasks
                     if hostnames[t["node"]] != stack.cluster.manager.name)  # fmt: skip
    on_node = {t["id"] for t in tasks if hostnames[t["node"]] == node_name}
    snapshot = wiring.transaction(stack.settings).snapshot()
    lost = {f"{r.address_on(r.addresses)}:3000" for r in snapshot["flowise"] if r.id in on_node}
    return next(node for node in stack.cluster.nodes if node.name == node_name), lost


def _wait_for_upstream(stack: SwarmStack, done, timeout: float = 180) -> None:
    """Until the upstream the daemon writes lists servers such that `done(servers)`."""
    deadline = time.monotonic() + timeout
    while not done(servers := _upstream_servers(stack)):
        if time.monotonic() > deadline:
            raise HarnessError(f"the upstream lists {sorted(servers)} after {timeout}s")
        time.sleep(0.5)


def _upstream_servers(stack: SwarmStack) -> set[str]:
    text = stack.settings.nginx.upstream_file.read_text()
    return set(re.findall(r"server (\d+\.\d+\.\d+\.\d+:3000)", text))
