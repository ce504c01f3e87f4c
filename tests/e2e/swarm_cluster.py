"""A Docker Swarm of several engines on this one machine, for the e2e tests: each engine runs in
a container of its own (the `dind` image of .ci/build-images), on a network of its own, and
they join one Swarm. The first node is the manager; this host reaches each node's engine
through a socket in the test's folder, as a daemon on a manager reaches its own (another node
promoted, a second manager's).

Everything is removed when the `with` block ends, even on failure: the nodes, their engines'
data (anonymous volumes), the network.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness import HarnessError, free_port, local_images
from python_on_whales import DockerClient

# As checked on these machines: --privileged is refused, and this is enough for an engine in a
# container (tests/e2e/images/dind).
NODE_OPTIONS = (
    "--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run",
    # the engine's data in a volume, on the host's disk: overlay2 works there (not on top of
    # the container's own overlay), so a task starts in a second, not in the 20 s vfs takes to
    # copy a Flowise image
    "-v", "/var/lib/docker",
    # a task starts from the image loaded into its node, without trying a registry first
    "-e", "DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1",
)  # fmt: skip
COMMAND_SECONDS = 120
LOAD_SECONDS = 900
ENGINE_SOCKET = "/engine/docker.sock"


@dataclass(frozen=True)
class Node:
    name: str
    loopback_ports: tuple[int, ...] = ()
    """Ports of the node's 127.0.0.1 reached from outside it (`_forward_to_loopback`)."""

    def docker(
        self, *args: str, stdin: Path | None = None, timeout: float = COMMAND_SECONDS
    ) -> str:
        """A docker command run by the node's own CLI against its own engine."""
        return _run("exec", "-i", self.name, "docker", *args, stdin=stdin, timeout=timeout)

    def stop(self) -> None:
        """The node's engine stops, as when its host goes down."""
        _run("stop", "--time", "0", self.name)

    def start(self) -> None:
        """The node's engine is back, still a member of the Swarm; its loopback reached from
        outside again (a container started again has a new network namespace: no rules)."""
        _run("start", self.name)
        _forward_to_loopback(self)
        _wait_for_engine(self)


@dataclass(frozen=True)
class SwarmCluster:
    nodes: tuple[Node, ...]
    """The manager first."""
    engines: Path
    """A folder of this host with each node's engine socket: `<node name>/docker.sock`."""
    published: Mapping[int, int]
    """A port the manager node publishes -> its port on this host's 127.0.0.1."""
    shared: tuple[Path, ...]
    """Paths of this host the manager node mounts at the same path."""
    loopback_ports: tuple[int, ...] = ()
    """Ports of this host's 127.0.0.1 that reach the same port on the manager's 127.0.0.1."""
    loopback_elsewhere: Mapping[str, Mapping[int, int]] = field(default_factory=dict)
    """Each other node's name -> each of `loopback_ports` on its own 127.0.0.1 -> the port of
    this host's 127.0.0.1 that reaches it."""

    @property
    def manager(self) -> Node:
        return self.nodes[0]

    def loopback_port(self, node: Node, port: int) -> int:
        """The port of this host's 127.0.0.1 that reaches `port` on the node's 127.0.0.1."""
        return port if node == self.manager else self.loopback_elsewhere[node.name][port]

    @property
    def docker_host(self) -> str:
        """The manager's engine, from this host."""
        return self.docker_host_of(self.manager)

    def docker_host_of(self, node: Node) -> str:
        return f"unix://{self.engines / node.name / Path(ENGINE_SOCKET).name}"

    def client(self) -> DockerClient:
        return DockerClient(host=self.docker_host)

    def promote(self, node: Node) -> None:
        """The node made a manager, once a change to the Swarm made through its engine goes
        through: with two managers both must take each one, and until the new one has caught up
        with the Raft log, a change times out (`context deadline exceeded`)."""
        self.manager.docker("node", "promote", node.name)
        _wait_until_answering(node, "manager", "node", "update", "--label-add",
                              "compose-flowise-test.promoted=yes", node.name)  # fmt: skip


@contextmanager
def swarm_cluster(
    folder: Path,
    size: int,
    images: Sequence[str],
    manager_images: Sequence[str] = (),
    shared: Sequence[Path] = (),
    ports: Mapping[int, int] | None = None,
    loopback_ports: Sequence[int] = (),
) -> Iterator[SwarmCluster]:
    """`size` engines in one Swarm, each with `images` loaded, the manager with
    `manager_images` too. The manager node mounts each of `shared` at the same path as here
    (what its services bind-mount), and publishes each of its `ports` on this host's 127.0.0.1
    at `ports[port]`. Each of `loopback_ports` on this host's 127.0.0.1 reaches the same port on
    the manager's own 127.0.0.1: what a manager's loopback is to the daemon that runs on it;
    another port of this host reaches it on each other node's (`loopback_port`)."""
    name = f"cf-swarm-{secrets.token_hex(4)}"
    ports = ports or {}
    engines = folder / "engines"
    nodes = tuple(Node(f"{name}-{number}", tuple(loopback_ports)) for number in range(size))
    elsewhere = {node.name: {port: free_port() for port in loopback_ports} for node in nodes[1:]}
    started: list[Node] = []
    _run("network", "create", name)
    try:
        for node in nodes:
            (engines / node.name).mkdir(parents=True)
            if node == nodes[0]:
                extra = _manager_options(shared, ports, {port: port for port in loopback_ports})
            else:
                extra = _loopback_options(elsewhere[node.name])
            started.append(node)
            _start(node, name, engines / node.name, extra)
        for node in nodes:
            _wait_for_engine(node)
        _form_swarm(nodes)
        for node in nodes:
            _forward_to_loopback(node)
        _load(nodes[:1], manager_images, folder / "manager-images.tar")
        _load(nodes, images, folder / "images.tar")
        yield SwarmCluster(nodes, engines, dict(ports), tuple(shared), tuple(loopback_ports),
                           elsewhere)  # fmt: skip
    finally:
        for node in started:
            _run("rm", "--force", "--volumes", node.name, check=False)
        _run("network", "rm", name, check=False)


def _manager_options(
    shared: Sequence[Path], ports: Mapping[int, int], loopback: Mapping[int, int]
) -> tuple[str, ...]:
    options = []
    for path in shared:
        options += ["-v", f"{path}:{path}"]
    for port, host_port in ports.items():
        options += ["-p", f"127.0.0.1:{host_port}:{port}"]
    return (*options, *_loopback_options(loopback))


def _loopback_options(loopback: Mapping[int, int]) -> tuple[str, ...]:
    """Each port of the node's loopback published at `loopback[port]` on this host's."""
    options = []
    for port, host_port in loopback.items():
        options += ["-p", f"127.0.0.1:{host_port}:{port}"]
    # lets a connection from outside the node be sent to its loopback (_forward_to_loopback)
    options += ["--sysctl", "net.ipv4.conf.all.route_localnet=1"]
    return tuple(options)


def _forward_to_loopback(node: Node) -> None:
    for port in node.loopback_ports:
        _run("exec", node.name, "iptables", "-t", "nat", "-I", "PREROUTING", "-i", "eth0",
             "-p", "tcp", "--dport", str(port), "-j", "DNAT",
             "--to-destination", f"127.0.0.1:{port}")  # fmt: skip


def _start(node: Node, network: str, engine: Path, extra: Sequence[str]) -> None:
    """The node's engine listening on its own socket and on one in `engine`, for this host."""
    sockets = ["-H", "unix:///var/run/docker.sock", "-H", f"unix://{ENGINE_SOCKET}"]
    mount = ["-v", f"{engine}:{Path(ENGINE_SOCKET).parent}"]
    image = local_images()["CF_IMAGE_DIND"]
    _run("run", "--detach", "--name", node.name, "--hostname", node.name, "--network", network,
         *NODE_OPTIONS, *mount, *extra, image, *sockets)  # fmt: skip


def _wait_for_engine(node: Node) -> None:
    _wait_until_answering(node, "engine", "info", "--format", "{{.ServerVersion}}")


def _wait_until_answering(node: Node, role: str, *command: str) -> None:
    """Until the node's docker `command` succeeds: its engine answers in that `role`."""
    deadline = time.monotonic() + COMMAND_SECONDS
    while True:
        try:
            node.docker(*command)
            return
        except HarnessError as error:
            if time.monotonic() > deadline:
                raise HarnessError(f"{node.name}: no {role} after {COMMAND_SECONDS}s: "
                                   f"{error}") from None  # fmt: skip
        time.sleep(0.5)


def _form_swarm(nodes: Sequence[Node]) -> None:
    manager, workers = nodes[0], nodes[1:]
    manager.docker("swarm", "init", "--advertise-addr", "eth0")
    token = manager.docker("swarm", "join-token", "--quiet", "worker").strip()
    address = manager.docker("info", "--format", "{{.Swarm.NodeAddr}}").strip()
    for worker in workers:
        worker.docker("swarm", "join", "--advertise-addr", "eth0", "--token", token,
                      f"{address}:2377")  # fmt: skip


def _load(nodes: Sequence[Node], images: Sequence[str], archive: Path) -> None:
    """`docker save` once, `docker load` into every node at once (no registry here)."""
    if not images:
        return
    _run("save", "--output", str(archive), *images, timeout=LOAD_SECONDS)
    try:
        with ThreadPoolExecutor(len(nodes)) as loading:
            for done in [loading.submit(_load_into, node, archive) for node in nodes]:
                done.result()
    finally:
        archive.unlink()


def _load_into(node: Node, archive: Path) -> None:
    node.docker("load", "--quiet", stdin=archive, timeout=LOAD_SECONDS)


def _run(*args: str, stdin: Path | None = None, timeout: float = COMMAND_SECONDS,
         check: bool = True) -> str:  # fmt: skip
    """A docker command on this host's engine, whatever DOCKER_HOST a test set."""
    env = {name: value for name, value in os.environ.items() if name != "DOCKER_HOST"}
    if stdin is None:
        result = subprocess.run(["docker", *args], capture_output=True, text=True,
                                timeout=timeout, env=env, check=False)  # fmt: skip
    else:
        with stdin.open("rb") as source:
            result = subprocess.run(["docker", *args], stdin=source, capture_output=True,
                                    timeout=timeout, env=env, check=False)  # fmt: skip
    if check and result.returncode != 0:
        raise HarnessError(f"docker {' '.join(args)}: exit {result.returncode}: "
                           f"{_text(result.stderr)}")  # fmt: skip
    return _text(result.stdout)


def _text(output: str | bytes) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output
