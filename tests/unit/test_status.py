"""`status` tells what is down, exits 1 when something is, and never hangs on a server that
accepts and stays silent: real sockets, real clients, the real docker CLI."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from autoscaler import config as config_module
from autoscaler.cli import main
from autoscaler.runtime import status, wiring
from autoscaler.runtime.redis_keys import state_key
from autoscaler.runtime.redis_state import RedisState
from autoscaler.runtime.state import Hold, ServiceRecord, State, StateFile, TickRecord


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    monkeypatch.delenv(config_module.ENV_VAR, raising=False)


def _hold_every_connection(listener: socket.socket, held: list[socket.socket]) -> None:
    while True:
        try:
            connection, _ = listener.accept()
        except OSError:
            return  # closed: the test is over
        held.append(connection)


def _silent(family: int, address: object) -> Iterator[socket.socket]:
    """A server that accepts every connection and never sends a byte."""
    held: list[socket.socket] = []
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind(address)
        listener.listen(16)
        threading.Thread(target=_hold_every_connection, args=(listener, held), daemon=True).start()
        yield listener
        listener.shutdown(socket.SHUT_RDWR)
    for connection in held:
        connection.close()


@pytest.fixture
def silent_tcp_port() -> Iterator[int]:
    yield from (listener.getsockname()[1] for listener in _silent(socket.AF_INET, ("127.0.0.1", 0)))


@pytest.fixture
def silent_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DOCKER_HOST at a unix socket that accepts and never answers (the docker CLI alone would
    wait there forever)."""
    address = str(tmp_path / "docker.sock")
    for _ in _silent(socket.AF_UNIX, address):
        monkeypatch.setenv("DOCKER_HOST", f"unix://{address}")
        yield


def config_file(
    tmp_path: Path, redis_port: int, nginx_port: int, redis_url: str = "", backend: str = "compose"
) -> Path:
    path = tmp_path / "config.toml"
    redis_url = redis_url or f"redis://:s3cret@127.0.0.1:{redis_port}/0"
    path.write_text(
        f'[redis]\nurl = "{redis_url}"\n'
        f'[nginx]\nstub_status_url = "http://127.0.0.1:{nginx_port}/nginx_status"\n'
        f'[daemon]\nstate_file = "{tmp_path / "state.json"}"\n'
        f'[compose]\ndirectory = "{tmp_path}"\nproject_name = "status-test"\n'
        f'backend = "{backend}"\n'
    )
    return path


def status_json(config: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main(["status", "--config", str(config), "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_servers_that_accept_and_never_answer_are_reported_down(
    tmp_path, silent_tcp_port, silent_docker, monkeypatch, capsys
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(status.time, "sleep", sleeps.append)
    config = config_file(tmp_path, redis_port=silent_tcp_port, nginx_port=silent_tcp_port)
    code, report = status_json(config, capsys)
    assert code == 1
    assert set(report["down"]) == {"redis", "nginx", "docker"}
    assert "no answer before the deadline" in report["down"]["docker"]
    assert sleeps == [], "no second read for the rates when a source did not answer the first"
    for service in report["services"].values():
        assert service["running"] is None and service["ready"] is None
        assert "would_scale_to" not in service, "nothing is decided from replicas nobody saw"
    assert report["daemon"]["lease_holder"] == "unknown"
    assert "s3cret" not in json.dumps(report)


def test_the_text_says_what_is_down_and_never_zero_replicas_when_docker_is_unreachable(
    tmp_path, unused_port, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    config = config_file(tmp_path, redis_port=unused_port, nginx_port=unused_port)
    assert main(["status", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    for source in ("redis", "nginx", "docker"):
        assert f"DOWN {source}: " in out
    assert "0 running" not in out
    assert "flowise-worker: replicas unknown, Docker unreachable" in out
    assert "lease: unknown" in out


def fresh_tick(
    tmp_path: Path, down: dict[str, str], services: dict[str, ServiceRecord], redis_url: str = ""
) -> None:
    """A tick just written by the daemon: in the state file, or in Redis (on a Swarm)."""
    tick = TickRecord(time.time(), "host:1", True, services, down=down)
    store = StateFile(tmp_path / "state.json")
    if redis_url:
        store = RedisState(redis.Redis.from_url(redis_url), "status-test", tmp_path / "none.json")
    store.write(State(last_tick=tick))


@pytest.fixture
def swarm_state(redis_server: str) -> Iterator[str]:
    """The URL of the Redis that keeps the state on a Swarm; the state deleted afterwards."""
    yield redis_server
    redis.Redis.from_url(redis_server).delete(state_key("status-test"))


def test_a_fresh_tick_is_told_without_observing_again(
    tmp_path, redis_server, monkeypatch, capsys
) -> None:
    def no_preview(*_args, **_kwargs):
        raise AssertionError("a fresh tick is answered from the state file")

    monkeypatch.setattr(wiring, "autoscaler", no_preview)
    seen = ServiceRecord(2, 1, 2, "flowise-worker 2 -> 2", acted=False)
    fresh_tick(tmp_path, {}, {"flowise-worker": seen})
    config = config_file(tmp_path, redis_port=0, nginx_port=1, redis_url=redis_server)
    code, report = status_json(config, capsys)
    assert code == 0 and report["down"] == {}
    assert report["from"] == "the daemon's last tick"
    assert report["services"]["flowise-worker"]["running"] == 2
    assert report["daemon"]["lease_holder"] is None  # free


def test_a_fresh_tick_that_saw_docker_down_says_so(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(wiring, "autoscaler", None)  # never called: the tick answers
    unknown = ServiceRecord(0, 0, 0, "replicas unknown: holding", acted=False)
    down = {"docker": "Cannot connect to the Docker daemon", "redis": "refused"}
    fresh_tick(tmp_path, down, {"flowise-worker": unknown})
    code = main(["status", "--config", str(config_file(tmp_path, 1, 1))])
    out = capsys.readouterr().out
    assert code == 1
    assert "DOWN docker: Cannot connect to the Docker daemon" in out
    assert "0 running" not in out and "would scale to 0" not in out


def test_redis_down_is_named_as_the_problem_with_what_clients_see_and_the_fix(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(wiring, "autoscaler", None)  # never called: the tick answers
    unknown = ServiceRecord(1, 1, 1, "flowise-worker 1 -> 1: holding", acted=False)
    down = {"redis": "ConnectionError: Error 111 connecting to 127.0.0.1:6379. Connection refused."}
    fresh_tick(tmp_path, down, {"flowise-worker": unknown})
    code = main(["status", "--config", str(config_file(tmp_path, 1, 1))])
    out = capsys.readouterr().out
    assert code == 1
    assert "DOWN redis: ConnectionError" in out
    assert "Redis is the problem" in out and "504 at the prediction timeout" in out
    assert "compose-flowise up" in out and "logs redis" in out
    assert "Traceback" not in out


def test_a_fresh_tick_reads_who_holds_the_lease_in_the_database_the_url_names(
    tmp_path, redis_server, capsys
) -> None:
    fresh_tick(tmp_path, {}, {})
    in_db_3 = redis_server.removesuffix("/0") + "/3"
    redis.Redis.from_url(in_db_3).set("compose-flowise:lease:status-test", "host:9")
    config = config_file(tmp_path, redis_port=0, nginx_port=1, redis_url=in_db_3)
    code, report = status_json(config, capsys)
    assert (code, report["down"]) == (0, {})
    assert (report["from"], report["daemon"]["lease_holder"]) == (
        "the daemon's last tick",
        "host:9",
    )


def test_a_fresh_tick_with_a_redis_that_refuses_the_password_says_redis_is_down(
    tmp_path, redis_server, capsys
) -> None:
    fresh_tick(tmp_path, {}, {})
    wrong = redis_server.replace(":test-secret@", ":not-the-password@")
    code, report = status_json(config_file(tmp_path, 0, 1, redis_url=wrong), capsys)
    assert code == 1 and report["daemon"]["lease_holder"] == "unknown"
    assert report["down"]["redis"].startswith("the lease in Redis: RespError: WRONGPASS")
    assert "not-the-password" not in json.dumps(report)


def test_from_a_fresh_tick_status_imports_neither_the_config_models_nor_a_redis_client(
    tmp_path, redis_server, capsys, heavy_imports_of
) -> None:
    fresh_tick(tmp_path, {}, {})
    config = config_file(tmp_path, redis_port=0, nginx_port=1, redis_url=redis_server)
    assert status_json(config, capsys)[0] == 0  # validates the config, and keeps its snapshot
    fresh_tick(tmp_path, {}, {})
    printed, imported = heavy_imports_of("status", "--config", str(config))
    assert imported == []
    assert "from the daemon's last tick" in printed


def test_on_swarm_a_fresh_tick_is_read_from_redis_without_a_redis_client(
    tmp_path, swarm_state, capsys, heavy_imports_of
) -> None:
    config = config_file(tmp_path, redis_port=0, nginx_port=1, redis_url=swarm_state,
                         backend="swarm")  # fmt: skip
    fresh_tick(tmp_path, {}, {}, swarm_state)
    assert status_json(config, capsys)[0] == 0  # validates the config, and keeps its snapshot
    fresh_tick(tmp_path, {}, {}, swarm_state)
    printed, imported = heavy_imports_of("status", "--config", str(config))
    assert imported == []
    assert "from the daemon's last tick" in printed
    assert not (tmp_path / "state.json").exists(), "on a Swarm, no state file is written"


def test_a_state_file_not_as_the_daemon_writes_it_is_named_not_read_past(
    tmp_path, unused_port, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    (tmp_path / "state.json").write_text('{"last_tick": {"at": "yesterday"}}')
    code, report = status_json(config_file(tmp_path, unused_port, unused_port), capsys)
    assert code == 1 and report["from"] == "status, no fresh daemon tick"
    assert any("state.json: unreadable state" in error for error in report["errors"])


def test_a_hold_in_force_is_shown(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(wiring, "autoscaler", None)  # never called: the tick answers
    unknown = ServiceRecord(0, 0, 0, "replicas unknown: holding", acted=False)
    fresh_tick(tmp_path, {"docker": "down"}, {"flowise-worker": unknown})
    state_file = StateFile(tmp_path / "state.json")
    state_file.write(replace(state_file.read(), hold=Hold("upgrade to flowise:3.2.0", 4e9)))
    main(["status", "--config", str(config_file(tmp_path, 1, 1))])
    out = capsys.readouterr().out
    assert "held, acting on nothing: upgrade to flowise:3.2.0 (at most until 2096-" in out


def test_on_swarm_each_service_shows_its_tasks_running_of_those_wanted_and_each_task_s_node(
    tmp_path, swarm_state, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(wiring, "autoscaler", None)  # never called: the tick answers
    tasks = (("flowise-worker.1", "running", None, "node-a"),
             ("flowise-worker.2", "running", "starting", "node-b"),
             ("flowise-worker.3", "running", "pending", ""))  # fmt: skip
    seen = ServiceRecord(3, 1, 3, "flowise-worker 3 -> 3", acted=False, replicas=tasks)
    fresh_tick(tmp_path, {"redis": "refused"}, {"flowise-worker": seen}, swarm_state)
    config = config_file(tmp_path, 1, 1, redis_url=swarm_state, backend="swarm")
    main(["status", "--config", str(config)])
    out = capsys.readouterr().out
    assert "project status-test on Docker Swarm" in out
    assert "flowise-worker: 1/3 tasks running (min 1" in out
    assert "  flowise-worker.1  running  -  on node-a\n" in out
    assert "  flowise-worker.2  running  starting  on node-b\n" in out
    assert "  flowise-worker.3  running  pending  on no node yet\n" in out
    assert "`docker service logs status-test_redis`" in out
    assert "through status-test_local-ports, which `up` starts" in out
    assert "`docker logs status-test_local-ports`" in out


def test_on_compose_a_replica_has_no_node_and_a_record_written_before_nodes_still_reads(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr(wiring, "autoscaler", None)  # never called: the tick answers
    before_nodes = (("flowise-flowise-worker-1", "running", None),)
    seen = ServiceRecord(1, 1, 1, "flowise-worker 1 -> 1", acted=False, replicas=before_nodes)
    fresh_tick(tmp_path, {"redis": "refused"}, {"flowise-worker": seen})
    main(["status", "--config", str(config_file(tmp_path, 1, 1))])
    out = capsys.readouterr().out
    assert "flowise-worker: 1 running, 1 ready (min 1" in out
    assert "  flowise-flowise-worker-1  running  -\n" in out
