"""A deaf main's restart on a Swarm: its container stopped through this manager's engine on
its own node, through a one-shot job placed on the task's node elsewhere (the engine's I/O
faked); the jobs' script (compose/node-container.py) against a fake engine on a real Unix
socket."""

from __future__ import annotations

import importlib.util
import socketserver
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from test_swarm_probe import Engine, Prober, Stack
from test_swarm_tasks import STACK, task

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.swarm_jobs import NodeJob, job_outcome
from autoscaler.actuators.tasks import stop_grace_seconds
from autoscaler.shipped import shipped_path

SCRIPT = shipped_path("compose/node-container.py")


class Manager(Engine):
    """A manager's engine on `node`: the containers it stopped, the commands it ran (a job's
    task reported in each of `job_states`, one per `service ps`)."""

    def __init__(self, node: str, job_states: Sequence[str] = ()) -> None:
        super().__init__(node)
        self.container = self
        self.stopped: list[str] = []
        self.commands: list[list[str]] = []
        self.job_states = list(job_states)

    def stop(self, container: str) -> None:
        self.stopped.append(container)


class OnManager(Stack):
    def __init__(self, tasks: list[dict[str, Any]], manager: Manager) -> None:
        super().__init__(tasks, Prober(), docker=manager)
        self.manager = manager

    def _docker_output(self, arguments: list[str]) -> str:
        self.manager.commands.append(arguments)
        if arguments[:2] == ["service", "ps"]:
            return self.manager.job_states.pop(0)
        return ""


def a_main(**fields: Any) -> dict[str, Any]:
    main = task("t1", 1, address="10.0.1.7", container="c0ffee0123456789")
    main["Spec"]["ContainerSpec"] = {"Image": "flowise:3.1.4", "StopGracePeriod": 80_000_000_000}
    return main | fields


def test_a_main_on_this_node_is_stopped_by_its_engine() -> None:
    manager = Manager("node-a")
    stack = OnManager([a_main()], manager)
    stack.restart(stack.replicas()["flowise"][0])
    assert manager.stopped == ["c0ffee0123456789-t1"]
    assert manager.commands == []


def test_a_main_on_another_node_is_stopped_there_by_a_job_removed_once_it_ended() -> None:
    manager = Manager("node-b", ["Preparing 1 second ago\t", "Complete 1 second ago\t"])
    stack = OnManager([a_main()], manager)
    stack.restart(stack.replicas()["flowise"][0])
    job = f"{STACK}_stop-c0ffee012345"
    listing = ["service", "ps", job, "--no-trunc", "--format", "{{.CurrentState}}\t{{.Error}}"]
    created = NodeJob(STACK, job, "flowise:3.1.4", "stop", "c0ffee0123456789-t1", "node.id==node-a")
    assert manager.commands == [
        ["service", "rm", job],
        created.create_command(SCRIPT.read_text()),
        listing,
        listing,
        ["service", "rm", job],
    ]
    assert manager.stopped == []


def test_a_job_runs_the_stack_s_image_with_the_engine_s_socket_where_it_is_placed() -> None:
    placed = NodeJob(STACK, "j", "flowise:3.1.4", "stop", "c0ffee", "node.id==n2")
    command = placed.create_command("SOURCE")
    assert command[:3] == ["service", "create", "--detach"]
    assert command[5:7] == ["--mode", "replicated-job"]
    assert "node.id==n2" in command
    assert "type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock" in command
    assert command[-6:] == ["python3", "flowise:3.1.4", "-c", "SOURCE", "stop", "c0ffee"]
    everywhere = NodeJob(STACK, "j", "flowise:3.1.4", "remove", "x", mode="global-job")
    assert "--constraint" not in everywhere.create_command("SOURCE")


def test_a_job_that_failed_is_an_error_naming_why_and_is_removed() -> None:
    manager = Manager("node-b", ["Failed 1 second ago\tstarting container failed: no image"])
    stack = OnManager([a_main()], manager)
    with pytest.raises(ActuatorError, match="no image") as failed:
        stack.restart(stack.replicas()["flowise"][0])
    assert "stop flowise.1 on node-a" in str(failed.value)
    assert manager.commands[-1] == ["service", "rm", f"{STACK}_stop-c0ffee012345"]


def test_a_job_is_complete_once_every_task_of_it_is() -> None:
    assert job_outcome("Complete 3 seconds ago\t\n") == ("complete", "")
    assert job_outcome("Complete 3 seconds ago\t\nRunning 1 second ago\t") == ("running", "")
    assert job_outcome("") == ("running", ""), "no task made yet"
    assert job_outcome("Complete 1 second ago\t\nRejected 1 second ago\tno such image") == (
        "failed", "rejected: no such image")  # fmt: skip


def test_a_stop_takes_the_stop_grace_period() -> None:
    assert stop_grace_seconds(a_main()) == 80
    assert stop_grace_seconds(task("t2", 2)) == 10, "Docker's default"


class FakeEngine(socketserver.ThreadingUnixStreamServer):
    """Answers each request with `status`, keeping the paths asked."""

    def __init__(self, path: Path, status: int) -> None:
        self.asked: list[str] = []
        self.status = status
        super().__init__(str(path), Answer)


class Answer(BaseHTTPRequestHandler):
    server: FakeEngine

    def do_POST(self) -> None:
        self.answer()

    def do_DELETE(self) -> None:
        self.answer()

    def answer(self) -> None:
        self.server.asked.append(self.path)
        body = b'{"message":"No such container: gone"}' if self.server.status == 404 else b""
        self.send_response(self.server.status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass

    def address_string(self) -> str:  # a Unix socket has no client address
        return "engine"


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("stop_container", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "ENGINE_SOCKET", str(tmp_path / "docker.sock"))
    yield module


def serving(path: Path, status: int) -> FakeEngine:
    engine = FakeEngine(path, status)
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    return engine


def test_the_script_stops_or_removes_the_container(script, tmp_path, capsys) -> None:
    engine = serving(tmp_path / "docker.sock", 204)
    try:
        script.ask("stop", "c0ffee")
        script.ask("remove", "cf_local-ports")
    finally:
        engine.shutdown()
    assert engine.asked == ["/containers/c0ffee/stop", "/containers/cf_local-ports?force=true"]
    assert "node-container: stop c0ffee: done" in capsys.readouterr().out


def test_the_script_removes_nothing_where_there_is_nothing(script, tmp_path) -> None:
    engine = serving(tmp_path / "docker.sock", 404)
    try:
        script.ask("remove", "cf_local-ports")
        with pytest.raises(SystemExit, match=r"stop gone: 404 .*No such container"):
            script.ask("stop", "gone")
    finally:
        engine.shutdown()
