"""A real compose project for the e2e tests and the benchmarks: nginx with the shipped
nginx.conf, Redis, and stand-in Flowise mains, under a project name of its own."""

from __future__ import annotations

import asyncio
import os
import queue
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import tomli_w
from bullmq import Queue
from python_on_whales import DockerClient

from autoscaler import config as config_module
from autoscaler.actuators.transaction import ScaleTransaction
from autoscaler.actuators.upstream import render_upstream
from autoscaler.config import Settings
from autoscaler.runtime import wiring
from autoscaler.shipped import shipped_path

E2E = Path(__file__).resolve().parent
IMAGES_ENV = E2E.parents[1] / ".ci" / "images.env"
COMPOSE_FLOWISE = Path(sys.executable).with_name("compose-flowise")
SLOW_COMMAND_SECONDS = 300


class HarnessError(Exception):
    pass


@dataclass
class Stack:
    settings: Settings
    docker: DockerClient
    http_url: str

    def scaler(self) -> ScaleTransaction:
        return wiring.transaction(self.settings)

    def upstream_text(self) -> str:
        return self.settings.nginx.upstream_file.read_text()

    def running(self, service: str) -> list:
        return [c for c in self.docker.compose.ps(services=[service]) if c.state.running]

    def config_file(self, path: Path, **sections) -> Path:
        """This stack's settings as a config file, with `sections` laid over them."""
        settings = self.settings.model_dump(mode="json", exclude_none=True)
        path.write_text(tomli_w.dumps({**settings, **sections}))
        path.chmod(0o600)
        return path


def local_images() -> dict[str, str]:
    if not IMAGES_ENV.exists():
        raise HarnessError(f"{IMAGES_ENV} is missing: run .ci/build-images (.ci/run does)")
    return dict(line.split("=", 1) for line in IMAGES_ENV.read_text().split())


# Below the kernel's ephemeral range (32768 and up), where the port the kernel gives a client
# connection cannot take ours between picking it and Docker binding it.
_TEST_PORTS = range(20000, 32000)


def free_port() -> int:
    """A loopback port nothing listens on now, for a container to publish."""
    while True:
        port = random.choice(_TEST_PORTS)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


@contextmanager
def running_stack(folder: Path) -> Iterator[Stack]:
    """Up with one fit main routed through nginx; always down, volumes and all, at the end."""
    project = f"cfe2e-{secrets.token_hex(4)}"
    upstream_file = folder / "upstreams" / "flowise.conf"
    upstream_file.parent.mkdir(parents=True)
    upstream_file.write_text(render_upstream("flowise", []))
    ports = {name: free_port() for name in ("CF_HTTP_PORT", "CF_STATUS_PORT", "CF_REDIS_PORT")}
    password = secrets.token_hex(8)
    env = {
        **local_images(),
        **{name: str(port) for name, port in ports.items()},
        "CF_PROJECT": project,
        "CF_NGINX_CONF": str(shipped_path("nginx/nginx.conf")),
        "CF_UPSTREAM_DIR": str(upstream_file.parent),
        "CF_REDIS_PASSWORD": password,
    }
    env_file = folder / "stack.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    env_file.chmod(0o600)
    settings = Settings.model_validate({
        "compose": {
            "project_name": project,
            "files": [str(E2E / "stack.yaml")],
            "directory": str(folder),
            "env_file": str(env_file),
            "ready_timeout_seconds": 60,
        },
        "redis": {"url": f"redis://:{password}@127.0.0.1:{ports['CF_REDIS_PORT']}/0"},
        "nginx": {
            "stub_status_url": f"http://127.0.0.1:{ports['CF_STATUS_PORT']}/nginx_status",
            "upstream_file": str(upstream_file),
            "drain_timeout_seconds": 30,
        },
    })  # fmt: skip
    docker = wiring.docker_client(settings)
    try:
        docker.compose.up(detach=True, quiet=True)
        stack = Stack(settings, docker, f"http://127.0.0.1:{ports['CF_HTTP_PORT']}")
        wait_until_routable(stack.scaler(), 1)
        wait_until_serving(stack.http_url)
        yield stack
    finally:
        docker.compose.down(volumes=True, remove_orphans=True, timeout=5)


def add_jobs(settings: Settings, queue_name: str, count: int) -> None:
    """`count` jobs waiting in a BullMQ queue of the stack's Redis, as Flowise adds them."""

    async def add() -> None:
        jobs = Queue(queue_name, {"connection": str(settings.redis.url)})
        for number in range(count):
            await jobs.add("prediction", {"question": str(number)})
        await jobs.close()

    asyncio.run(add())


def upstream_servers(upstream_file: Path) -> set[str]:
    """The mains' ADDRESS:3000 the upstream file lists."""
    return set(re.findall(r"server (\S+:3000)", upstream_file.read_text()))


def wait_until_routable(scaler: ScaleTransaction, count: int, timeout: float = 60) -> None:
    """Reconcile until the upstream routes to `count` fit replicas, like the daemon's ticks."""
    deadline = time.monotonic() + timeout
    while True:
        snapshot = scaler.snapshot()
        scaler.reconcile(snapshot)
        fit = [r for r in snapshot.get("flowise", []) if r.routable]
        if len(fit) == count:
            return
        if time.monotonic() > deadline:
            raise HarnessError(f"{len(fit)} fit replicas after {timeout}s, expected {count}")
        time.sleep(0.5)


def wait_for(condition, timeout: float, what: str, every: float = 1.0):
    """`condition()`'s first true value, asked every `every` s; fails the test as `what` after
    `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(every)
    return value


def wait_until_serving(url: str, timeout: float = 30) -> None:
    """Until nginx's workers all route to a replica: right after a reload, old ones may not, and
    right after a restart Docker's port forwarder accepts and resets until nginx listens."""
    deadline = time.monotonic() + timeout
    answers: list[int | str] = []
    while answers[-5:] != [200] * 5:
        if time.monotonic() > deadline:
            raise HarnessError(f"nginx does not serve after {timeout}s: {answers[-5:]}")
        answers.append(ping_answer(url))
        time.sleep(0.1)


def ping_answer(url: str) -> int | str:
    """The ping's status code, or what kept the connection from giving one."""
    try:
        return requests.get(f"{url}/api/v1/ping", timeout=10).status_code
    except requests.ConnectionError as error:
        return type(error).__name__


class Clients:
    """`clients` threads, each sending one request after another until stopped. Bounded: each
    stops by itself after `max_seconds`, whatever the test does. A subclass says what one
    request is (`send`, whose result has a `status`), and gets back what each one gave
    (`results`). While `held()`, no new request starts (those in flight go on)."""

    def __init__(self, clients: int, max_seconds: float) -> None:
        self.clients = clients
        self.max_seconds = max_seconds
        self.results: list = []

    def send(self, session: requests.Session):
        raise NotImplementedError

    def __enter__(self):
        self._stop = threading.Event()
        self._go = threading.Event()
        self._go.set()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._threads = [threading.Thread(target=self._client) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._go.set()
        for thread in self._threads:
            thread.join()

    @contextmanager
    def held(self) -> Iterator[None]:
        self._go.clear()
        try:
            time.sleep(0.2)  # a client past its check sends now: let it
            yield
        finally:
            self._go.set()

    @property
    def failures(self) -> list:
        return [r for r in self.results if r.status != 200]

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def _client(self) -> None:
        session = requests.Session()
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._go.wait()
            if self._stop.is_set():
                break
            with self._lock:
                self._in_flight += 1
            result = self.send(session)
            with self._lock:
                self._in_flight -= 1
                self.results.append(result)


@dataclass
class Answer:
    started: float
    ended: float
    status: int | None
    hostname: str | None = None
    error: str | None = None


class Load(Clients):
    """Requests through nginx that each stay in flight `hold_ms` at a stand-in main, plus up to
    `spread_ms` more at random (so that the clients' requests do not all end at once)."""

    def __init__(
        self, url: str, hold_ms: int, clients: int = 6, max_seconds: float = 240,
        spread_ms: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(clients, max_seconds)
        self.url = url
        self.hold_ms = hold_ms
        self.spread_ms = spread_ms

    def send(self, session: requests.Session) -> Answer:
        started = time.monotonic()
        hold_ms = self.hold_ms + random.randint(0, self.spread_ms)
        try:
            response = session.post(f"{self.url}/hold?ms={hold_ms}", timeout=60)
            hostname = response.json().get("hostname") if response.ok else None
            return Answer(started, time.monotonic(), response.status_code, hostname)
        except (requests.RequestException, ValueError) as error:
            return Answer(started, time.monotonic(), None, error=repr(error))

    @property
    def answers(self) -> list[Answer]:
        return self.results


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = SLOW_COMMAND_SECONDS
) -> subprocess.CompletedProcess:
    """The installed compose-flowise command, as an operator runs it."""
    return subprocess.run(
        [str(COMPOSE_FLOWISE), *args],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip


class Daemon:
    """`compose-flowise daemon` in its own process, as systemd runs it; its log lines are read
    as they come and kept."""

    def __init__(self, config: Path, docker_host: str | None = None) -> None:
        """`docker_host`: the engine it talks to, when not this process's DOCKER_HOST."""
        self._state = wiring.state_store(config_module.load(config, {}).settings)
        env = {**os.environ, "DOCKER_HOST": docker_host} if docker_host else None
        self.process = subprocess.Popen(
            [str(COMPOSE_FLOWISE), "daemon", "--config", str(config)],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env,
        )  # fmt: skip
        self.lines: list[str] = []
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip())
            self._new.put(line.rstrip())

    def wait_for(self, pattern: str, timeout: float = 60) -> str:
        """The next line matching `pattern`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._new.get(timeout=0.5)
            except queue.Empty:
                continue
            if re.search(pattern, line):
                return line
        raise HarnessError(
            f"no daemon line matching {pattern!r} in {timeout:.0f}s: {self.lines[-5:]}"
        )

    def ticks_from_now(self, count: int, timeout: float = 60) -> None:
        """Until `count` ticks more have ended: the first may have begun before this call. Each
        tick records itself in the state (a quiet tick writes no log line)."""
        seen = self._last_tick_at()
        deadline = time.monotonic() + timeout * count
        while count:
            if time.monotonic() > deadline:
                raise HarnessError(f"the daemon ticked no more within {timeout * count:.0f}s: "
                                   f"{self.lines[-5:]}")  # fmt: skip
            time.sleep(0.1)
            now = self._last_tick_at()
            if now != seen:
                seen, count = now, count - 1

    def _last_tick_at(self) -> float | None:
        last = self._state.read().last_tick
        return None if last is None else last.at

    def stop(self) -> int:
        """SIGTERM: the tick in progress ends, with its docker commands. The exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
