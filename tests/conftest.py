"""Fixtures shared by the suites: real servers started for the test session."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

import autoscaler


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def own_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The config snapshots the commands keep (and any other cache) in the session's folder,
    for the commands run in process and the ones started from the tests alike."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if before is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = before


HEAVY_IMPORTS = ("pydantic", "redis")


@pytest.fixture
def heavy_imports_of() -> Callable[..., tuple[str, list[str]]]:
    """Runs the command line with the arguments given in a fresh interpreter: what it printed
    on stdout, and which of HEAVY_IMPORTS it imported. It runs the very package the tests
    import (the installed one, or the checkout's), as the config snapshots are keyed by it."""
    package_parent = str(Path(autoscaler.__file__).resolve().parent.parent)

    def run(*arguments: str) -> tuple[str, list[str]]:
        program = (
            f"import json, sys; sys.path.insert(0, {package_parent!r}); "
            "from autoscaler.cli import main; main(sys.argv[1:]); "
            f"print(json.dumps(sorted(set({HEAVY_IMPORTS!r}) & set(sys.modules))))"
        )
        ran = subprocess.run([sys.executable, "-c", program, *arguments],
                             capture_output=True, text=True, check=True)  # fmt: skip
        *printed, imported = ran.stdout.splitlines()
        return "\n".join(printed), json.loads(imported)

    return run


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def free_ports() -> Callable[[], int]:
    """Hands out loopback ports nothing listens on, as many as the test asks for."""
    return free_port


@pytest.fixture(scope="session")
def start_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., str]]:
    """Starts a real redis-server on loopback, with a password and the options given, and
    returns its URL; every one started stops at the end of the session."""
    with ExitStack() as servers:

        def start(*options: str) -> str:
            folder = tmp_path_factory.mktemp("redis")
            return servers.enter_context(_running_redis(folder, options))

        yield start


@pytest.fixture(scope="session")
def redis_server(start_redis: Callable[..., str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shared redis-server's URL. It listens on a unix socket too (CONFIG GET unixsocket):
    a client there has another address than one on loopback, as another host would."""
    socket_file = tmp_path_factory.mktemp("socket") / "redis.sock"
    return start_redis("--unixsocket", str(socket_file), "--unixsocketperm", "700")


@contextmanager
def _running_redis(folder: Path, options: tuple[str, ...]) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (.ci/run installs it)")
    port, password = free_port(), "test-secret"
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
         "--save", "", "--appendonly", "no", "--dir", str(folder), *options],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    try:
        _wait_for_redis(url)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for_redis(url: str) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


REAL_FLOWISE_GROUP = "real-flowise"
WITH_THE_REAL_FLOWISE_GROUP = ("tests/e2e/test_swarm.py",)
"""Modules that run real Flowise in some of their tests (on a cluster of their own) and whose
tests share a module-scoped fixture: whole, in the real-Flowise group."""
LONGEST_FIRST = (REAL_FLOWISE_GROUP,)
"""The group that takes the longest (about 20 minutes), handed out first so that the two
workers end together."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """For pytest-xdist's `--dist loadgroup` (.ci/run runs two workers): each module runs whole
    on one worker, its module-scoped stack or cluster set up once; the real-Flowise modules and
    the Swarm's run one after the other on one worker, as two real Flowise stacks at once would
    starve two cores. First of the hooks: xdist reads the groups in its own, which would
    otherwise run before this one and hand out every test on its own."""
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
    items.sort(key=lambda item: _rank(_group(item)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Stops a `--dist loadgroup` run whose tests pytest-xdist did not group (it marks each
    test's id with its group): it would hand out every test on its own and set a module's stack
    or cluster up on both workers at once."""
    ungrouped = [nodeid for nodeid in ids if "@" not in nodeid]
    if ungrouped and node.config.getvalue("dist") == "loadgroup":
        pytest.exit(f"pytest-xdist did not group {ungrouped[0]} (and {len(ungrouped) - 1} "
                    "more): see pyproject.toml's pytest", returncode=pytest.ExitCode.USAGE_ERROR)  # fmt: skip


def _group(item: pytest.Item) -> str:
    module = item.nodeid.split("::")[0]
    if item.get_closest_marker("real_flowise") or module in WITH_THE_REAL_FLOWISE_GROUP:
        return REAL_FLOWISE_GROUP
    return module


def _rank(group: str) -> int:
    return LONGEST_FIRST.index(group) if group in LONGEST_FIRST else len(LONGEST_FIRST)
