"""The product's own stack for the end-to-end tests: `compose-flowise init` and `up` with the
shipped compose file unchanged, its image variables pointed at the local images. Each stack has
a project name of its own and is torn down, volumes and all, even when a test fails."""

from __future__ import annotations

import io
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import requests
from harness import (
    COMPOSE_FLOWISE,
    SLOW_COMMAND_SECONDS,
    Clients,
    HarnessError,
    free_port,
    local_images,
    run_cli,
)

from autoscaler import config
from autoscaler.cli import main
from autoscaler.config import Settings
from autoscaler.runtime import wiring


def run_in_process(*args: str) -> subprocess.CompletedProcess:
    """compose-flowise's main() in this process: the same, without a second of start-up."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, stdout.getvalue(), stderr.getvalue())


def set_env(env_file: Path, values: dict[str, str]) -> None:
    """Set `values` in an env file: existing keys in place, new ones at the end."""
    lines = env_file.read_text().splitlines()
    pending = dict(values)
    for index, line in enumerate(lines):
        key = line.split("=", 1)[0]
        if "=" in line and not line.startswith("#") and key in pending:
            lines[index] = f"{key}={pending.pop(key)}"
    lines += [f"{key}={value}" for key, value in pending.items()]
    env_file.write_text("\n".join(lines) + "\n")


def local_site() -> dict[str, str]:
    """What an air-gapped site sets in .env: its own images (moto's S3 server in MinIO's slot),
    no pulls; here also the public port on loopback only."""
    images = local_images()
    return {
        "FLOWISE_IMAGE": images["CF_IMAGE_STANDIN"],
        "POSTGRES_IMAGE": images["CF_IMAGE_POSTGRES"],
        "REDIS_IMAGE": images["CF_IMAGE_REDIS"],
        "NGINX_IMAGE": images["CF_IMAGE_NGINX"],
        "MINIO_IMAGE": images["CF_IMAGE_S3"],
        "PULL_POLICY": "never",
        "FLOWISE_HTTP_ADDRESS": "127.0.0.1",
    }


@dataclass
class FlowiseStack:
    folder: Path
    config_file: Path
    settings: Settings
    http_url: str
    up_output: str = ""

    def cli(self, *args: str, in_process: bool = False) -> subprocess.CompletedProcess:
        run = run_in_process if in_process else run_cli
        return run(*args, "--config", str(self.config_file))

    def tear_down(self) -> None:
        wiring.docker_client(self.settings).compose.down(
            volumes=True, remove_orphans=True, timeout=5, quiet=True
        )


def initialized_stack(folder: Path, in_process: bool = False, **env: str) -> FlowiseStack:
    """`compose-flowise init FOLDER` with free ports, then the local site's .env settings."""
    project = f"cfstack-{secrets.token_hex(4)}"
    http, redis_port, status = free_port(), free_port(), free_port()
    result = (run_in_process if in_process else run_cli)(
        "init", str(folder), "--project-name", project, "--http-port", str(http),
        "--redis-port", str(redis_port), "--status-port", str(status),
    )  # fmt: skip
    if result.returncode != 0:
        raise HarnessError(f"compose-flowise init failed: {result.stderr}")
    set_env(folder / ".env", {**local_site(), **env})
    config_file = folder / "config.toml"
    settings = config.load(config_file, {}).settings
    return FlowiseStack(folder, config_file, settings, f"http://127.0.0.1:{http}")


@contextmanager
def running_flowise_stack(folder: Path, **env: str) -> Iterator[FlowiseStack]:
    """`init`, then `up`; always torn down at the end, volumes and all."""
    stack = initialized_stack(folder, **env)
    try:
        result = stack.cli("up")
        if result.returncode != 0:
            raise HarnessError(f"compose-flowise up failed:\n{result.stdout}\n{result.stderr}")
        stack.up_output = result.stdout
        yield stack
    finally:
        stack.tear_down()


def predict(url: str, question: str, timeout: float = 60) -> requests.Response:
    return requests.post(f"{url}/api/v1/prediction/e2e-flow", json={"question": question},
                         timeout=timeout)  # fmt: skip


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None
    main: str | None = None


class Predictions(Clients):
    """Clients sending predictions through nginx one after another, until stopped."""

    def __init__(self, url: str, question: str, clients: int = 6, max_seconds: float = 120):
        super().__init__(clients, max_seconds)
        self.url = url
        self.question = question

    def send(self, session: requests.Session) -> Outcome:
        started = time.monotonic()
        try:
            response = predict(self.url, self.question)
            main = response.json().get("main") if response.ok else None
            return Outcome(started, time.monotonic(), response.status_code, main)
        except (requests.RequestException, ValueError):
            return Outcome(started, time.monotonic(), None)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.results


class Upgrade:
    """`compose-flowise upgrade --image IMAGE` in its own process, its output read as it comes."""

    def __init__(self, stack: FlowiseStack, image: str) -> None:
        self.process = subprocess.Popen(
            [str(COMPOSE_FLOWISE), "upgrade", "--image", image, "--config", str(stack.config_file)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Upgrade:
        return self

    def __exit__(self, *exc_info) -> None:
        """A test that failed meanwhile leaves no upgrade running."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C: its waits end, the hold ends
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def wait_for(self, pattern: str, count: int = 1, timeout: float = 180) -> None:
        def seen() -> bool:
            return sum(bool(re.search(pattern, line)) for line in self.lines) >= count

        with self._changed:
            if not self._changed.wait_for(seen, timeout):
                raise HarnessError(f"upgrade printed no {pattern!r} x{count}: {self.lines[-5:]}")

    def result(self) -> subprocess.CompletedProcess:
        self.process.wait(timeout=SLOW_COMMAND_SECONDS)
        self._reader.join(timeout=10)
        assert self.process.stderr is not None
        stdout = "\n".join(self.lines)
        return subprocess.CompletedProcess(
            [], self.process.returncode, stdout, self.process.stderr.read()
        )
