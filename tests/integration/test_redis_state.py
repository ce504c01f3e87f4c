"""The daemon's state kept in Redis for the managers of a Swarm, against a real Redis: each store
here stands for one manager (its own client, its own state file path)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from autoscaler.config import Settings
from autoscaler.policy import Override, ServiceHistory
from autoscaler.runtime import manual, wiring
from autoscaler.runtime.redis_keys import state_key
from autoscaler.runtime.redis_state import RedisState
from autoscaler.runtime.state import Hold, State, StateError, StateFile

Manager = Callable[..., RedisState]


@pytest.fixture
def project() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def manager(redis_server: str, project: str, tmp_path: Path) -> Manager:
    """A store as one manager builds it: its own client, its own state file (none by default)."""

    def build(name: str = "a", lock_seconds: float = 15.0) -> RedisState:
        client = redis.Redis.from_url(redis_server, socket_timeout=2)
        state_file = tmp_path / name / "state.json"
        return RedisState(client, project, state_file, lock_seconds)

    return build


def pinned(replicas: int, until: float | None = None) -> ServiceHistory:
    return ServiceHistory().with_override(Override(replicas, until))


def test_no_state_yet_reads_empty_and_what_one_writes_another_reads(manager: Manager) -> None:
    a, b = manager("a"), manager("b")
    assert b.read() == State()
    written = State(hold=Hold("upgrade", 4e9)).with_history("flowise-worker", pinned(3))
    a.write(written)
    assert b.read() == written


def test_a_key_that_holds_no_state_is_named(manager: Manager, redis_server, project) -> None:
    redis.Redis.from_url(redis_server).set(state_key(project), b"not json")
    with pytest.raises(StateError, match=rf"Redis \({state_key(project)}\): unreadable state"):
        manager().read()


LOCKS = {
    "the state's": lambda store: store.locked(),
    "a service's actuation": lambda store: store.acting("flowise-worker"),
    "the refill's": lambda store: store.refilling(),
}


@pytest.mark.parametrize("held", LOCKS.values(), ids=LOCKS.keys())
def test_a_lock_held_on_one_manager_excludes_another(manager: Manager, held) -> None:
    a, b = manager("a"), manager("b")
    entered = threading.Event()

    def waits() -> None:
        with held(b) as taken:
            assert taken
            entered.set()

    with held(a) as taken:
        assert taken
        waiter = threading.Thread(target=waits)
        waiter.start()
        assert not entered.wait(0.5), "b waits while a holds it"
    assert entered.wait(5), "b has it once a let go"
    waiter.join()


def test_a_lock_not_waited_for_is_told_taken_or_not(manager: Manager) -> None:
    a, b = manager("a"), manager("b")
    with a.acting("flowise"), b.acting_if_free("flowise") as free:
        assert not free
    with b.acting_if_free("flowise") as free, a.acting_if_free("flowise-worker") as other:
        assert free and other, "free again; and another service's is another lock"
    with a.refilling(wait=False) as refilling, b.refilling(wait=False) as second:
        assert refilling and not second


def test_a_lock_is_kept_past_its_time_to_live_while_its_holder_lives(manager: Manager) -> None:
    a, b = manager("a", lock_seconds=0.6), manager("b", lock_seconds=0.6)
    with a.acting("flowise-worker"):
        for _ in range(4):  # 1.6 s in all, more than twice its time-to-live
            time.sleep(0.4)
            with b.acting_if_free("flowise-worker") as free:
                assert not free


HOLDER = """
import sys, time, redis
from pathlib import Path
from autoscaler.runtime.redis_state import RedisState
store = RedisState(redis.Redis.from_url(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), 1.0)
with store.acting("flowise-worker"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_lock_of_a_holder_that_died_frees_itself_after_its_time_to_live(
    manager: Manager, redis_server, project, tmp_path
) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, redis_server, project, str(tmp_path / "none.json")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        holder.kill()  # SIGKILL: nothing released
        holder.wait(timeout=10)
        other = manager("b")
        with other.acting_if_free("flowise-worker") as free:
            assert not free, "still held just after its holder died"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with other.acting_if_free("flowise-worker") as free:
                if free:
                    break
            time.sleep(0.1)
        assert free, "free within about its 1 s time-to-live"
    finally:
        holder.kill()
        holder.wait(timeout=10)


def write_file(path: Path, state: State) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    StateFile(path).write(state)


def test_the_state_file_kept_before_is_taken_over_once(manager: Manager, tmp_path, caplog) -> None:
    kept = State().with_history("flowise-worker", pinned(5))
    file = tmp_path / "a" / "state.json"
    write_file(file, kept)
    with caplog.at_level(logging.WARNING):
        assert manager("a").read() == kept
    assert not file.exists()
    assert StateFile(file.with_name("state.json.taken-over")).read() == kept, "content kept"
    assert "took the state over from" in caplog.text
    assert "flowise-worker pinned at 5" in caplog.text

    caplog.clear()
    again = manager("a")
    with caplog.at_level(logging.WARNING):
        again.write(State())
        assert again.read() == State()
    assert caplog.text == "", "taken once: nothing left to take, nothing said"


def test_a_file_found_once_redis_has_a_state_is_not_taken_but_set_aside_and_said(
    manager: Manager, tmp_path, caplog
) -> None:
    in_force = State().with_history("flowise", pinned(2))
    manager("a").write(in_force)
    file = tmp_path / "b" / "state.json"
    write_file(file, State().with_history("flowise-worker", pinned(7)))
    with caplog.at_level(logging.WARNING):
        assert manager("b").read() == in_force
    assert file.with_name("state.json.not-taken-over").exists() and not file.exists()
    assert "not taken over" in caplog.text and "flowise-worker pinned at 7" in caplog.text


def test_two_managers_starting_at_once_take_one_file_over_and_lose_no_write(
    manager: Manager, tmp_path
) -> None:
    """The takeover holds the state's lock: a write by another manager comes before it (the
    file is then set aside) or after it (on top of its content), never in between."""
    write_file(tmp_path / "a" / "state.json", State().with_history("flowise-worker", pinned(5)))
    a, b = manager("a"), manager("b")
    started = threading.Barrier(2)

    def record_pin() -> None:
        started.wait()
        with b.locked():
            b.write(b.read().with_history("flowise", pinned(2)))

    writer = threading.Thread(target=record_pin)
    writer.start()
    started.wait()
    a.read()
    writer.join()
    final = manager("c").read()
    assert final.history("flowise").override == Override(2, None)
    taken = (tmp_path / "a" / "state.json.taken-over").exists()
    assert (final.history("flowise-worker").override is not None) == taken


def test_a_pin_set_by_scale_on_one_manager_is_seen_by_another(
    redis_server, project, tmp_path, monkeypatch
) -> None:
    settings = Settings.model_validate({
        "redis": {"url": redis_server},
        "compose": {"backend": "swarm", "project_name": project, "directory": str(tmp_path)},
        "daemon": {"state_file": str(tmp_path / "a" / "state.json")},
    })  # fmt: skip
    assert isinstance(wiring.state_store(settings), RedisState)

    class Scaled:
        def snapshot(self) -> dict:
            return {}

        def reconcile(self, snapshot) -> bool:
            return False

        def scale(self, service, replicas, snapshot):
            return None

    monkeypatch.setattr(wiring, "transaction", lambda settings, stop: Scaled())
    manual.pin(settings, "flowise-worker", 4, duration=None, force=False)
    other = RedisState(redis.Redis.from_url(redis_server), project, tmp_path / "b" / "state.json")
    assert other.read().history("flowise-worker").override == Override(4, None)
    assert manual.release(settings, "flowise-worker") == Override(4, None)
    assert other.read().history("flowise-worker").override is None


def test_redis_gone_is_a_state_error_that_says_where(unused_port, tmp_path) -> None:
    client = redis.Redis(port=unused_port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    store = RedisState(client, "p", tmp_path / "state.json")
    with pytest.raises(StateError, match=r"Redis \(compose-flowise:state:p\): no answer"):
        store.read()
    with pytest.raises(StateError), store.acting("flowise"):
        pass
