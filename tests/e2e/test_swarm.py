"""The stack and the daemon on a real three-node Docker Swarm (swarm_cluster.py): stand-in
Flowise services spread over the nodes, nginx on the manager routing to the tasks' addresses;
and real Flowise 3.1.4 (the local image of .ci/build-flowise-image) with its mains and workers
on every node."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import tomli_w
from flowise_stack import FlowiseStack, set_env
from harness import (
    E2E,
    Daemon,
    HarnessError,
    Load,
    add_jobs,
    local_images,
    run_cli,
    upstream_servers,
    wait_for,
    wait_until_routable,
    wait_until_serving,
)
from python_on_whales import DockerClient
from real_flowise_stack import (
    WORKER_CONCURRENCY,
    PredictionArrivals,
    RealFlowise,
    bootstrap,
    flowise_image,
    sleep_flow,
)
from swarm_cluster import Node, SwarmCluster
from swarm_site import NODES, PUBLISHED, SwarmFolder, remove_stack, site_cluster, site_folder

from autoscaler.actuators.swarm_jobs import JOB_LABEL
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.actuators.upstream import render_upstream
from autoscaler.config import Settings
from autoscaler.locations import local_ports_name
from autoscaler.runtime import wiring
from autoscaler.shipped import shipped_path

pytestmark = pytest.mark.e2e

QUEUE = "flowise-queue-prediction"
STACK_FILE = E2E / "swarm-stack.yaml"


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
    try:
        folder, image = tmp_path_factory.mktemp("swarm"), flowise_image()
        with site_cluster(folder, flowise_images=[image]) as running:
            yield running
    except HarnessError as error:
        pytest.fail(str(error))


@pytest.fixture
def swarm_folder(cluster: SwarmCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[SwarmFolder]:
    monkeypatch.setenv("DOCKER_HOST", cluster.docker_host)
    try:
        with site_folder(cluster) as folder:
            yield folder
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
        remove_stack(cluster, name)


def _wait_for_nginx(scaler: ScaleTransaction, timeout: float = 120) -> None:
    """Until nginx's task runs: `stack deploy` does not wait for any."""
    deadline = time.monotonic() + timeout
    while not any(r.routable for r in scaler.snapshot().get("nginx", [])):
        if time.monotonic() > deadline:
            raise HarnessError(f"nginx does not run after {timeout}s")
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


SCALE_DOWN_SOON = {"scale_down": {"stabilization_window_seconds": 20, "cooldown_seconds": 20,
                                   "surplus_replica_seconds": 40}}  # fmt: skip
"""Shortened from the shipped behavior, so that the test sees the scale-in soon."""


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
    config = _mains_held_at(3, stack, tmp_path)
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


def test_with_redis_away_a_main_lost_still_leaves_the_upstream(stack: SwarmStack, tmp_path) -> None:
    """Redis holds the daemon's state on a Swarm: while it is away no tick can decide anything,
    but nginx still follows what runs."""
    config = _mains_held_at(2, stack, tmp_path)
    victim, lost = _a_worker_node_with_a_main(stack)
    assert lost, "the upstream routes to the victim's main"
    redis = f"{stack.settings.compose.project_name}_redis"
    daemon = Daemon(config)
    try:
        daemon.wait_for(r"tick \(leading")
        docker = stack.cluster.client()
        docker.service.scale({redis: 0}, detach=True)
        try:
            daemon.wait_for(r"tick failed: StateError")
            _kill_mains_on(victim, stack)
            _wait_for_upstream(stack, lambda listed: len(listed) == 2 and not listed & lost)
        finally:
            docker.service.scale({redis: 1}, detach=True)
    finally:
        assert daemon.stop() == 0


def test_a_main_on_another_node_is_restarted_there_by_a_job(stack: SwarmStack) -> None:
    """A deaf main's restart, when it runs where this manager's engine reaches no container: a
    one-shot job placed on its node stops it, Swarm starts another task, and no job is left."""
    scaler = wiring.transaction(stack.settings)
    scaler.scale("flowise", 2, scaler.snapshot())
    backend = wiring.swarm_backend(stack.settings, wiring.docker_client(stack.settings))
    elsewhere = next(r for r in backend.replicas()["flowise"] if not backend.reaches(r))
    backend.restart(elsewhere)

    def replaced() -> bool:
        running = [r for r in backend.replicas()["flowise"] if r.state == "running"]
        return len(running) == 2 and elsewhere.id not in {r.id for r in running}

    wait_for(replaced, timeout=60, what="Swarm starts a task for the stopped one")
    jobs = stack.cluster.manager.docker(
        "service", "ls", "--quiet", "--filter",
        f"label={JOB_LABEL}={stack.settings.compose.project_name}",
    )  # fmt: skip
    assert jobs.strip() == ""


def _mains_held_at(count: int, stack: SwarmStack, tmp_path: Path) -> Path:
    """`count` mains running, and the config of a daemon that keeps them so."""
    steady = {"min_replicas": count, "max_replicas": count,
              "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}]}  # fmt: skip
    config = stack.config_file(
        tmp_path / "config.toml", {"flowise": steady, "flowise-worker": False}
    )
    scaler = wiring.transaction(stack.settings)
    scaler.scale("flowise", count, scaler.snapshot())
    return config


def _kill_mains_on(node: Node, stack: SwarmStack) -> None:
    """The node's mains' containers gone at once, as when they crash: Swarm starts others."""
    service = f"{stack.settings.compose.project_name}_flowise"
    containers = node.docker(
        "ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={service}"
    ).split()
    assert containers, f"no main runs on {node.name}"
    node.docker("rm", "--force", *containers)


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
    while not done(servers := upstream_servers(stack.settings.nginx.upstream_file)):
        if time.monotonic() > deadline:
            raise HarnessError(f"the upstream lists {sorted(servers)} after {timeout}s")
        time.sleep(0.5)


def test_up_deploys_the_shipped_stack_and_a_second_up_keeps_the_counts_the_autoscaler_set(
    swarm_folder: SwarmFolder,
) -> None:
    first = swarm_folder.cli("up")
    assert first.returncode == 0, first.stdout + first.stderr
    url = f"http://localhost:{swarm_folder.http_port}"
    assert f"Flowise is up at {url} (flowise: 2, flowise-worker: 1)" in first.stdout  # the mins
    assert "one flowise alone first" in first.stdout
    assert requests.get(f"http://127.0.0.1:{swarm_folder.http_port}/api/v1/ping", timeout=10).ok
    redis_port, status_port = swarm_folder.cluster.loopback_ports
    published = f"published on 127.0.0.1:{redis_port} and 127.0.0.1:{status_port}"
    assert published in first.stdout
    forwarder = swarm_folder.local_ports()
    assert set(forwarder["bindings"]) == {f"127.0.0.1:{redis_port}", f"127.0.0.1:{status_port}"}

    scaler = wiring.transaction(swarm_folder.settings)
    scaler.scale("flowise-worker", 3, scaler.snapshot())
    scaler.scale("flowise", 3, scaler.snapshot())
    workers = swarm_folder.running_tasks("flowise-worker")
    mains = swarm_folder.running_tasks("flowise")
    assert (len(workers), len(mains)) == (3, 3), "the premise: counts above the mins and the file's"

    manager_node = swarm_folder.cluster.manager
    of_the_stack = f"com.docker.stack.namespace={swarm_folder.project}"
    earlier = f"{swarm_folder.project}_drain-on-sigterm-000000000000"  # as an upgrade leaves it
    manager_node.docker("config", "create", "--label", of_the_stack, earlier, "/etc/hostname")

    again = swarm_folder.cli("up")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "(flowise: 3, flowise-worker: 3)" in again.stdout
    assert f"removed {earlier}, the drain script's config of an earlier deploy" in again.stdout
    configs = manager_node.docker(
        "config", "ls", "--filter", f"label={of_the_stack}", "--format", "{{.Name}}"
    )
    mains_use = manager_node.docker(
        "service", "inspect", f"{swarm_folder.project}_flowise", "--format",
        "{{range .Spec.TaskTemplate.ContainerSpec.Configs}}{{.ConfigName}} {{end}}",
    ).split()  # fmt: skip
    assert [c for c in configs.split() if "drain-on-sigterm" in c] == mains_use
    assert (swarm_folder.replicas("flowise"), swarm_folder.replicas("flowise-worker")) == (3, 3)
    assert swarm_folder.running_tasks("flowise-worker") == workers, "no worker was replaced"
    assert swarm_folder.running_tasks("flowise") == mains, "no main was replaced"
    assert swarm_folder.local_ports()["id"] == forwarder["id"], "the forwarder was kept"
    manager = swarm_folder.cluster.manager.docker("info", "--format", "{{.Swarm.NodeID}}").strip()
    for service in ("postgres", "redis", "minio", "nginx"):
        assert swarm_folder.constraints(service) == [f"node.id == {manager}"], service

    status = swarm_folder.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "flowise-worker: 3/3 tasks running (min 1" in status.stdout
    worker_nodes = re.findall(r"  flowise-worker\.\d+  running  -  on (\S+)", status.stdout)
    assert len(worker_nodes) == 3 and len(set(worker_nodes)) > 1, status.stdout
    assert set(worker_nodes) <= {node.name for node in swarm_folder.cluster.nodes}


def test_doctor_judges_the_stack_file_and_the_tasks_on_every_node(
    swarm_folder: SwarmFolder,
) -> None:
    """`doctor` on a Swarm: the stack file as `up` deploys it, and the tasks Swarm runs, each
    with its service's environment, whichever node runs it."""
    up = swarm_folder.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    healthy = swarm_folder.cli("doctor")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert f"no problem found in {swarm_folder.project}" in healthy.stdout
    workers = f"{swarm_folder.project}_flowise-worker=0"
    swarm_folder.cluster.manager.docker("service", "scale", "--detach", workers)
    swarm_folder.tasks_after("flowise-worker", 0)
    broken = swarm_folder.cli("doctor", "--json")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    [problem] = json.loads(broken.stdout)["problems"]
    assert problem["check"] == "workers_present"
    assert problem["problem"].startswith("mains are running but no worker is")


def test_mains_swarm_stops_under_load_finish_their_requests_first(
    swarm_folder: SwarmFolder, tmp_path: Path
) -> None:
    """Swarm, not compose-flowise, picks the mains a scale-in stops: a `docker service scale` by
    hand (as an operator or a node drain would), then the transaction's own scale-in. Those it
    picks hold SIGTERM (the shipped stack's drain-on-sigterm) until the daemon, or the scale-in
    itself, has taken them out of the upstream and their requests in flight have ended; Flowise
    on its own would cut them."""
    up = swarm_folder.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    scaler = wiring.transaction(swarm_folder.settings)
    scaler.scale("flowise", 3, scaler.snapshot())
    hostnames = swarm_folder.hostnames("flowise")
    by_hand = f"{swarm_folder.project}_flowise=2"
    daemon = Daemon(swarm_folder.daemon_config(tmp_path, {"flowise": False}))
    url = f"http://127.0.0.1:{swarm_folder.http_port}"
    try:
        daemon.wait_for(r"tick \(leading")
        with Load(url, hold_ms=4000, spread_ms=4000, clients=9) as load:
            time.sleep(6)  # every main has requests in flight, ending at scattered times
            stops = [
                swarm_folder.stopping("flowise", 2, lambda: swarm_folder.cluster.manager.docker(
                    "service", "scale", "--detach", by_hand)),
                swarm_folder.stopping("flowise", 1, lambda: scaler.scale(
                    "flowise", 1, scaler.snapshot())),
            ]  # fmt: skip
            time.sleep(20)  # past the stopped mains' drain
    finally:
        assert daemon.stop() == 0, daemon.lines[-5:]
    for phase, (stopped, since) in enumerate(stops, start=1):
        assert len(stopped) == 1, f"the premise: Swarm stopped one main in phase {phase}"
        (task,) = stopped
        served = [a for a in load.answers if a.hostname == hostnames[task] and a.ended > since + 1]
        assert served, (f"the premise: the main stopped in phase {phase} still had requests in "
                        f"flight; failures: {load.failures[:3]}")  # fmt: skip
    assert load.answers and not load.failures, load.failures[:3]
    assert _left_after_stop(swarm_folder, {t for s, _ in stops for t in s}) == set()


def test_a_node_drained_under_load_moves_its_main_without_a_failed_request(
    swarm_folder: SwarmFolder, tmp_path: Path
) -> None:
    """`docker node update --availability drain`, as before a host's maintenance: Swarm stops
    the node's tasks and starts others elsewhere. The drained main holds SIGTERM until the daemon
    has taken it out of the upstream and its requests in flight have ended; its replacement is
    routed once fit."""
    up = swarm_folder.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    scaler = wiring.transaction(swarm_folder.settings)
    scaler.scale("flowise", 3, scaler.snapshot())
    hostnames = swarm_folder.hostnames("flowise")
    node, on_node = swarm_folder.a_worker_node_running("flowise")
    steady = {"min_replicas": 3, "max_replicas": 3,
              "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}]}  # fmt: skip
    daemon = Daemon(
        swarm_folder.daemon_config(tmp_path, {"flowise": steady, "flowise-worker": False})
    )
    url = f"http://127.0.0.1:{swarm_folder.http_port}"
    try:
        daemon.wait_for(r"tick \(leading")
        with Load(url, hold_ms=4000, spread_ms=4000, clients=9) as load:
            time.sleep(6)  # every main has requests in flight, ending at scattered times
            since = time.monotonic()
            swarm_folder.cluster.manager.docker("node", "update", "--availability", "drain", node)
            moved = swarm_folder.tasks_after("flowise", 3, timeout=60) - on_node
            _wait_for_routed(swarm_folder, 3, timeout=90)
            time.sleep(3)  # requests through the replacement too
    finally:
        swarm_folder.cluster.manager.docker("node", "update", "--availability", "active", node)
        assert daemon.stop() == 0, daemon.lines[-5:]
    assert len(moved) == 3 and not moved & on_node, "Swarm runs the drained node's mains elsewhere"
    served = [a for a in load.answers
              if a.hostname in {hostnames[t] for t in on_node} and a.ended > since + 1]  # fmt: skip
    assert served, f"the premise: the drained main had requests in flight; {load.failures[:3]}"
    assert load.answers and not load.failures, load.failures[:3]
    assert _left_after_stop(swarm_folder, on_node) == set()


def test_a_standby_on_another_manager_takes_over_with_the_pins_while_nginx_s_node_routes(
    swarm_folder: SwarmFolder, tmp_path: Path
) -> None:
    """Two managers, a daemon on each, one state in Redis. `up` on the second publishes Redis
    and stub_status there too, and changes nothing deployed. The leader, there (nginx does not
    run on it), scales the mains out under load; the standby, on nginx's node, routes them (an
    engine reaches only its own node's nginx). The leader killed, holding the lease (no clean
    stop), the standby takes over once the lease runs out, keeps the pin `scale` set, and
    scales the mains back in; no request fails."""
    up = swarm_folder.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    cluster = swarm_folder.cluster
    second = cluster.nodes[1]
    mains = {"min_replicas": 1, "max_replicas": NODES, "behavior": SCALE_DOWN_SOON,
             "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}]}  # fmt: skip
    services = {"flowise": mains, "flowise-worker": {
        "min_replicas": 1, "max_replicas": NODES, "behavior": SCALE_DOWN_SOON}}  # fmt: skip
    here = swarm_folder.daemon_config(tmp_path, services)
    there = swarm_folder.daemon_config(tmp_path, services, node=second)
    deployed = {s: swarm_folder.running_tasks(s) for s in ("postgres", "redis", "nginx", "flowise")}
    placed = swarm_folder.constraints("postgres")
    url = f"http://127.0.0.1:{swarm_folder.http_port}"
    leader = standby = None
    try:
        cluster.promote(second)
        joined = run_cli("up", "--config", str(there),
                         env={**os.environ, "DOCKER_HOST": cluster.docker_host_of(second)})  # fmt: skip
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert f"nginx runs on {cluster.manager.name}, not on this manager" in joined.stdout
        assert {s: swarm_folder.running_tasks(s) for s in deployed} == deployed
        assert swarm_folder.constraints("postgres") == placed, "the data stays where it is"
        pinned = swarm_folder.cli("scale", "flowise-worker=2")
        assert pinned.returncode == 0, pinned.stdout + pinned.stderr
        leader = Daemon(there, docker_host=cluster.docker_host_of(second))
        leader.wait_for(r"tick \(leading")
        standby = Daemon(here, docker_host=cluster.docker_host)
        standby.wait_for(r"tick \(standing by")
        with Load(url, hold_ms=4000, spread_ms=4000, clients=9) as load:
            _wait_for_routed(swarm_folder, NODES, timeout=120)
            leader.process.kill()
            leader.process.wait()
            standby.wait_for(r"tick \(leading", timeout=90)
        with Load(url, hold_ms=200, clients=2) as trickle:
            _wait_for_routed(swarm_folder, 1, timeout=180)
            standby.ticks_from_now(3)
    finally:
        for daemon in (leader, standby):
            if daemon is not None:
                daemon.stop()
        DockerClient(host=cluster.docker_host_of(second)).container.remove(
            local_ports_name(swarm_folder.project), force=True
        )
        cluster.manager.docker("node", "demote", second.name)
    assert any(re.search(r"flowise \d -> 3", line) for line in leader.lines), leader.lines[-5:]
    assert swarm_folder.replicas("flowise-worker") == 2, "the pin held through the takeover"
    kept = wiring.state_store(swarm_folder.settings).read()
    assert kept.history("flowise-worker").override is not None
    assert kept.last_tick is not None and kept.last_tick.leading
    assert kept.last_tick.services["flowise-worker"].desired == 2
    assert load.answers and trickle.answers
    assert not load.failures and not trickle.failures, (load.failures + trickle.failures)[:3]


def _wait_for_routed(swarm_folder: SwarmFolder, count: int, timeout: float) -> None:
    """Until the upstream lists `count` mains, each a task Swarm wants running and fit."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = wiring.transaction(swarm_folder.settings).snapshot()
        fit = {f"{r.address_on(r.addresses)}:3000" for r in snapshot["flowise"] if r.routable}
        listed = upstream_servers(swarm_folder.settings.nginx.upstream_file)
        if listed == fit and len(fit) == count:
            return
        if time.monotonic() > deadline:
            raise HarnessError(f"the upstream lists {sorted(listed)}, fit: {sorted(fit)}")
        time.sleep(0.5)


def _left_after_stop(swarm_folder: SwarmFolder, tasks: set[str], seconds: float = 90) -> set[str]:
    """Those of `tasks` still running after `seconds`; none once each has stopped (Swarm
    forgets the tasks of a scale-in once they stopped)."""
    service = f"{swarm_folder.project}_flowise"
    deadline = time.monotonic() + seconds
    while True:
        output = swarm_folder.cluster.manager.docker(
            "service", "ps", service, "--no-trunc", "--format", "{{.ID}} {{.CurrentState}}"
        )
        running = {task for task, state in (line.split(maxsplit=1) for line in output.splitlines())
                   if task in tasks and state.startswith("Running")}  # fmt: skip
        if not running or time.monotonic() >= deadline:
            return running
        time.sleep(1)


REAL_FLOWISE_SERVICES = {
    "flowise": {"min_replicas": 2, "max_replicas": NODES, "behavior": SCALE_DOWN_SOON,
                "signals": [{"kind": "nginx_in_flight", "target_per_replica": 4}]},
    "flowise-worker": {"min_replicas": 1, "max_replicas": NODES, "behavior": SCALE_DOWN_SOON},
}  # fmt: skip
"""The workers on the shipped signals (both queues, WORKER_CONCURRENCY from the stack's .env)."""
PREDICTION_MS = 3000
"""How long a prediction sleeps on a worker: one worker of WORKER_CONCURRENCY=2 takes 0.67/s."""
PREDICTIONS_PER_SECOND = 1.5
"""Started through nginx whatever their answers take: more than one worker takes, less than
three; dozens in flight through nginx while the backlog lasts."""
TRICKLE_PER_SECOND = 0.2
"""While the stack scales back in: one worker, and mains with a request in flight now and then."""
SPREAD_BOUND_SECONDS = 300
"""The most the predictions go on for the mains and workers Swarm started on the other nodes to
take their share (a real Flowise process starts in 20-60 s on a busy machine)."""
SCALE_IN_BOUND_SECONDS = 240


@pytest.fixture
def real_flowise(swarm_folder: SwarmFolder) -> RealFlowise:
    """`up` of the shipped stack on real Flowise, bootstrapped (flow, API key)."""
    real_flowise_env = {
        "FLOWISE_IMAGE": flowise_image(),
        "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
    }
    set_env(swarm_folder.folder / ".env", real_flowise_env)
    up = swarm_folder.cli("up")
    if up.returncode != 0:
        pytest.fail(f"up: {up.stdout}{up.stderr}")
    url = f"http://127.0.0.1:{swarm_folder.http_port}"
    stack = FlowiseStack(swarm_folder.folder, swarm_folder.config_file, swarm_folder.settings, url)
    try:
        return RealFlowise(stack, bootstrap(url, sleep_flow()))
    except HarnessError as error:
        pytest.fail(str(error))


@pytest.mark.real_flowise
def test_real_flowise_scaled_over_every_node_answers_every_prediction(
    real_flowise: RealFlowise, swarm_folder: SwarmFolder, tmp_path: Path
) -> None:
    """Real Flowise 3.1.4 on the three nodes, Postgres, Redis and nginx on the manager: under a
    stream of predictions the daemon scales the mains and the workers out, Swarm spreads them
    over the nodes, a main on each node serves requests through nginx and a worker on each node
    takes jobs at once; then the stack scales back in under a trickle. No prediction fails."""
    daemon = Daemon(swarm_folder.daemon_config(tmp_path, REAL_FLOWISE_SERVICES))
    try:
        daemon.wait_for(r"tick \(leading", timeout=60)
        with PredictionArrivals(real_flowise, str(PREDICTION_MS), PREDICTIONS_PER_SECOND,
                                max_seconds=SPREAD_BOUND_SECONDS) as arrivals:  # fmt: skip
            spread = _spread_under_load(real_flowise, SPREAD_BOUND_SECONDS)
            arrivals.stop_starting()
        with PredictionArrivals(real_flowise, str(PREDICTION_MS), TRICKLE_PER_SECOND,
                                max_seconds=SCALE_IN_BOUND_SECONDS) as trickle:  # fmt: skip
            wait_for(lambda: _running(real_flowise) == (2, 1), SCALE_IN_BOUND_SECONDS,
                     "back to 2 mains and 1 worker", every=2)  # fmt: skip
    finally:
        assert daemon.stop() == 0, daemon.lines[-5:]
    nodes = {node.name for node in swarm_folder.cluster.nodes}
    assert spread.serving_nodes == nodes, f"mains served through nginx only on {spread}"
    assert spread.busy_worker_nodes == nodes, f"workers took jobs at once only on {spread}"
    for predictions in (arrivals, trickle):
        assert predictions.outcomes and not predictions.failures, [
            (o.status, o.text[:100]) for o in predictions.failures
        ]


@dataclass
class Spread:
    serving_nodes: set[str]
    """The nodes of the mains nginx had a request in flight to."""
    busy_worker_nodes: set[str]
    """The nodes of the workers running while every worker there was had a job at once."""


def _spread_under_load(flowise: RealFlowise, timeout: float) -> Spread:
    """Until a main on every node served and a worker on every node took jobs, or `timeout`."""
    scaler = wiring.transaction(flowise.stack.settings)
    spread = Spread(set(), set())
    deadline = time.monotonic() + timeout
    while (
        len(spread.serving_nodes) < NODES or len(spread.busy_worker_nodes) < NODES
    ) and time.monotonic() < deadline:
        snapshot = scaler.snapshot()
        mains = {f"{r.address_on(r.addresses)}:3000": r.node
                 for r in snapshot["flowise"] if r.routable}  # fmt: skip
        open_to = scaler.upstream.open_connections(snapshot["nginx"][0], mains)
        spread.serving_nodes |= {mains[server] for server, count in open_to.items() if count}
        workers = [r for r in snapshot["flowise-worker"] if r.state == "running"]
        if flowise.queue()[1] == len(workers) * WORKER_CONCURRENCY:
            spread.busy_worker_nodes |= {r.node for r in workers}
        time.sleep(1)
    return spread


def _running(flowise: RealFlowise) -> tuple[int, int]:
    """How many mains and workers run."""
    return len(flowise.running("flowise")), len(flowise.running("flowise-worker"))


def test_down_leaves_nothing_of_the_stack_on_any_node(
    swarm_folder: SwarmFolder, tmp_path: Path
) -> None:
    """Not even the forwarder `up` started on a second manager, which this one's engine does
    not reach."""
    up = swarm_folder.cli("up")
    assert up.returncode == 0, up.stdout + up.stderr
    volumes = swarm_folder.volumes()
    assert len(volumes) == 3, "the premise: Postgres's, Redis's and MinIO's volumes"
    cluster = swarm_folder.cluster
    others, second = cluster.nodes[1:], cluster.nodes[1]
    there = swarm_folder.daemon_config(tmp_path, services(), node=second)
    cluster.promote(second)
    try:
        joined = run_cli("up", "--config", str(there),
                         env={**os.environ, "DOCKER_HOST": cluster.docker_host_of(second)})  # fmt: skip
        assert joined.returncode == 0, joined.stdout + joined.stderr
        before = swarm_folder.left_on(others)
        assert any(f"{node.name}: ps " in entry for node in others for entry in before), (
            "the premise: tasks run on the other nodes too"
        )
        forwarder = second.docker("ps", "--quiet", "--filter",
                                  f"name={local_ports_name(swarm_folder.project)}")  # fmt: skip
        assert forwarder.strip(), "the premise: a forwarder on the second manager too"

        down = swarm_folder.cli("down", "--volumes")
    finally:
        cluster.manager.docker("node", "demote", second.name)
    assert down.returncode == 0, down.stdout + down.stderr
    removed = f"removed the stack {swarm_folder.project}: deleted the volumes on this manager"
    assert removed in down.stdout and all(volume in down.stdout for volume in volumes)
    assert swarm_folder.left_on(swarm_folder.cluster.nodes[:1]) == [], "at once on the manager"
    # The other nodes' engines remove their containers once Swarm has forgotten their tasks.
    assert _left_after(swarm_folder, seconds=15) == []


def _left_after(swarm_folder: SwarmFolder, seconds: float) -> list[str]:
    """What is left of the stack on every node once nothing is, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        left = swarm_folder.left_on(swarm_folder.cluster.nodes)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.5)
