"""Where the daemon's state is kept is decided in one place (`wiring.state_store`): every user
of the state (the daemon, `scale`, `status`, `doctor`'s reader, an upgrade) goes through it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import autoscaler
from autoscaler.config import LoadedConfig, Settings
from autoscaler.policy import Override
from autoscaler.runtime import daemon as daemon_module
from autoscaler.runtime import manual, status, wiring
from autoscaler.runtime.redis_state import RedisState
from autoscaler.runtime.state import DeafMainEvent, Hold, State, StateFile
from autoscaler.stack import setup_reader


class MemoryStore:
    """A StateStore in memory that notes each lock taken."""

    where = "memory"

    def __init__(self, state: State | None = None) -> None:
        self.state = state or State()
        self.taken: list[str] = []

    def read(self) -> State:
        return self.state

    def write(self, state: State) -> None:
        self.state = state

    @contextmanager
    def _lock(self, name: str) -> Iterator[bool]:
        self.taken.append(name)
        yield True

    def locked(self):
        return self._lock("state")

    def acting(self, service: str):
        return self._lock(f"acting {service}")

    def acting_if_free(self, service: str):
        return self._lock(f"acting {service}")

    def refilling(self, wait: bool = True):
        return self._lock("refilling")


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> MemoryStore:
    kept = MemoryStore()
    monkeypatch.setattr(wiring, "state_store", lambda settings: kept)
    return kept


def settings_of(tmp_path: Path, backend: str = "compose", **sections: object) -> Settings:
    return Settings.model_validate({
        "compose": {"backend": backend, "project_name": "proj", "directory": str(tmp_path)},
        "daemon": {"state_file": str(tmp_path / "state.json")},
        **sections,
    })  # fmt: skip


def test_on_compose_the_state_is_the_file_on_this_host(tmp_path) -> None:
    store = wiring.state_store(settings_of(tmp_path))
    assert isinstance(store, StateFile) and store.path == tmp_path / "state.json"


def test_on_swarm_the_state_is_in_redis_and_building_it_connects_to_nothing(tmp_path) -> None:
    settings = settings_of(tmp_path, "swarm", redis={"url": "redis://127.0.0.1:1/0"})
    store = wiring.state_store(settings)
    assert isinstance(store, RedisState)
    assert store.where == "Redis (compose-flowise:state:proj)"


class Scaled:
    def snapshot(self) -> dict:
        return {}

    def reconcile(self, snapshot) -> bool:
        return False

    def scale(self, service, replicas, snapshot):
        return None


def test_scale_pins_in_the_store_holding_the_service_then_the_state(
    tmp_path, store, monkeypatch
) -> None:
    monkeypatch.setattr(wiring, "transaction", lambda settings, stop: Scaled())
    manual.pin(settings_of(tmp_path), "flowise-worker", 4, duration=None, force=False)
    assert store.state.history("flowise-worker").override == Override(4, None)
    assert store.taken == ["acting flowise-worker", "state"]
    assert manual.release(settings_of(tmp_path), "flowise-worker") == Override(4, None)
    assert store.state.history("flowise-worker").override is None


def test_status_reads_the_store(tmp_path, store) -> None:
    store.state = State(hold=Hold("upgrade", 4e9))
    assert status._state(settings_of(tmp_path)) == (store.state, None)


def test_doctors_reader_finds_the_deaf_mains_in_the_store(tmp_path, store) -> None:
    event = DeafMainEvent(9e9, "flowise", "proj-flowise-1", "no request answered", "restarted")
    store.state = State(deaf_mains=(event,))
    assert setup_reader._deaf_mains(settings_of(tmp_path)) == (event,)


class Refill:
    def __init__(self) -> None:
        self.runs = 0

    def refill(self) -> None:
        self.runs += 1


@pytest.mark.parametrize("held", [False, True], ids=["free", "held by an upgrade"])
def test_the_daemons_refill_holds_the_stores_refill_lock(tmp_path, store, held) -> None:
    settings = settings_of(tmp_path, services={"flowise-worker": {"warm_replicas": 1}})
    loaded = LoadedConfig(settings, "test")
    daemon = daemon_module.Daemon(loaded, lambda: loaded, dry_run=False, log_format="human")
    refill = Refill()
    daemon._refill, daemon._leading = refill, True
    if held:
        store.state = State(hold=Hold("upgrade", 9e9))
    daemon._refill_warm_pools()
    assert "refilling" in store.taken
    assert refill.runs == (0 if held else 1)


ALLOWED = {"runtime/wiring.py", "runtime/redis_state.py"}  # the one place; and a takeover


def test_no_module_but_the_wiring_builds_a_state_store() -> None:
    package = Path(autoscaler.__file__).parent
    builders = {}
    for module in package.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            called = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if called and node.func.id in ("StateFile", "RedisState"):
                builders[str(module.relative_to(package))] = node.func.id
    assert set(builders) <= ALLOWED, builders
