"""What `up` and `down` read of a Swarm stack and decide about it (pure), and the stack file
shipped for it."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoscaler.actuators.replicas import Replica
from autoscaler.cli import main
from autoscaler.config import parse
from autoscaler.errors import BadInput
from autoscaler.shipped import shipped_path
from autoscaler.stack.backup_plan import CONFIG, DUMP, ENV, FILES, MANIFEST, Manifest
from autoscaler.stack.startup import readiness
from autoscaler.stack.swarm_plan import (
    StackService,
    data_node,
    drain_script_variables,
    local_ports,
    refuse_bound_address,
    replicas_override,
    resolve_image,
    stack_services,
    stale_drain_configs,
    task_states,
    tasks_wanted,
)

STACK = "cf"


def inspected(
    name: str, mode: dict, restart: str | None = "any", ports: list | None = None
) -> dict:
    """A service as `docker service inspect` shows it (the fields `up` reads)."""
    template: dict = {"ContainerSpec": {"Image": "img"}}
    if restart is not None:
        template["RestartPolicy"] = {"Condition": restart, "MaxAttempts": 0}
    service = {"ID": f"id-{name}", "Spec": {"Name": f"{STACK}_{name}", "Mode": mode,
                                            "TaskTemplate": template}}  # fmt: skip
    service["Endpoint"] = {"Spec": {"Mode": "dnsrr"}, **({"Ports": ports} if ports else {})}
    return service


def replica(service: str, slot: int, health: str | None = None, state: str = "running") -> Replica:
    return Replica(id=f"{service}{slot}", name=f"{service}.{slot}", service=service, number=slot,
                   state=state, health=health, started_at=datetime.now(UTC), addresses={})  # fmt: skip


def test_the_services_are_read_by_compose_name_with_their_counts_and_published_ports() -> None:
    nginx_port = {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}
    services = stack_services(STACK, [
        inspected("flowise", {"Replicated": {"Replicas": 3}}),
        inspected("nginx", {"Replicated": {"Replicas": 1}}, ports=[nginx_port]),
        inspected("minio-bucket", {"Replicated": {"Replicas": 1}}, restart="on-failure"),
        inspected("agent", {"Global": {}}, restart=None),
    ])  # fmt: skip
    assert services == {
        "flowise": StackService("flowise", 3, image="img"),
        "nginx": StackService("nginx", 1, published={80: 8080}, image="img"),
        "minio-bucket": StackService("minio-bucket", 1, restarted=False, image="img"),
        "agent": StackService("agent", None, image="img"),
    }


def test_a_service_s_environment_is_read_from_its_spec() -> None:
    """What every task of it runs with, wherever it runs: doctor judges the tasks by it."""
    flowise = inspected("flowise", {"Replicated": {"Replicas": 2}})
    flowise["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] = ["MODE=queue", "EMPTY=", "A=b=c"]
    [service] = stack_services(STACK, [flowise]).values()
    assert service.environment == {"MODE": "queue", "EMPTY": "", "A": "b=c"}


def test_the_data_node_is_the_one_the_stack_is_placed_on_else_this_manager_s() -> None:
    """A redeploy from another manager leaves the data where its volumes are."""
    postgres = inspected("postgres", {"Replicated": {"Replicas": 1}})
    postgres["Spec"]["TaskTemplate"]["Placement"] = {"Constraints": ["node.id==n0d3"]}
    flowise = inspected("flowise", {"Replicated": {"Replicas": 2}})
    deployed = stack_services(STACK, [flowise, postgres])
    assert deployed["postgres"].constraints == ("node.id==n0d3",)
    assert data_node(deployed, here="h3r3") == "n0d3"
    assert data_node({"flowise": deployed["flowise"]}, here="h3r3") == "h3r3", "first deploy"
    on_a_manager = {"postgres": StackService("postgres", 1, constraints=("node.role == manager",))}
    assert data_node(on_a_manager, here="h3r3") == "h3r3", "placed by role before: by id now"


def test_the_tasks_wanted_leave_out_one_shot_and_global_services() -> None:
    services = {
        "flowise": StackService("flowise", 2),
        "postgres": StackService("postgres", 1),
        "scaled-to-zero": StackService("scaled-to-zero", 0),
        "minio-bucket": StackService("minio-bucket", 1, restarted=False),
        "agent": StackService("agent", None),
    }
    assert tasks_wanted(services) == {"flowise": 2, "postgres": 1, "scaled-to-zero": 0}


def test_the_override_sets_only_each_scaled_service_s_replicas() -> None:
    override = json.loads(replicas_override({"flowise": 3, "flowise-worker": 0}))
    assert override == {"services": {"flowise": {"deploy": {"replicas": 3}},
                                     "flowise-worker": {"deploy": {"replicas": 0}}}}  # fmt: skip


@pytest.mark.parametrize(
    ("pull_policy", "resolved"),
    [(None, "always"), ("missing", "always"), ("always", "always"), ("never", "never")],
    ids=["unset", "missing", "always", "never: every image is local"],
)
def test_a_registry_is_asked_for_the_images_unless_every_image_is_local(
    pull_policy, resolved
) -> None:
    env = {} if pull_policy is None else {"PULL_POLICY": pull_policy}
    assert resolve_image(env) == resolved


@pytest.mark.parametrize(
    "address", [None, "", "0.0.0.0", "::"], ids=["unset", "empty", "ipv4 any", "ipv6 any"]
)
def test_a_port_on_every_address_is_what_swarm_does(address) -> None:
    refuse_bound_address({} if address is None else {"FLOWISE_HTTP_ADDRESS": address}, ".env")


def test_a_port_bound_to_one_address_is_refused_with_what_to_do() -> None:
    with pytest.raises(BadInput) as refused:
        refuse_bound_address({"FLOWISE_HTTP_ADDRESS": "127.0.0.1"}, "/srv/flowise/.env")
    message = str(refused.value)
    assert "FLOWISE_HTTP_ADDRESS=127.0.0.1 in /srv/flowise/.env" in message
    assert "every address of the manager" in message and "remove the line" in message


def test_the_stack_is_ready_once_every_wanted_task_runs_fit() -> None:
    snapshot = {"flowise": [replica("flowise", 1), replica("flowise", 2)],
                "postgres": [replica("postgres", 1)]}  # fmt: skip
    state = readiness(task_states({"flowise": 2, "postgres": 1}, snapshot))
    assert state.ready and state.healthy == ("flowise.1", "flowise.2", "postgres.1")


def test_tasks_on_their_way_and_tasks_not_made_yet_are_waited_for() -> None:
    snapshot = {"flowise": [replica("flowise", 1), replica("flowise", 2, health="pending")]}
    state = readiness(task_states({"flowise": 3, "nginx": 1}, snapshot))
    assert not state.ready and not state.failed
    assert state.waiting == ("flowise.2 (pending)", "flowise (no task yet)", "nginx (no task yet)")


def test_a_one_shot_service_that_ended_is_not_waited_for() -> None:
    services = {"minio-bucket": StackService("minio-bucket", 1, restarted=False)}
    assert readiness(task_states(tasks_wanted(services), {})).ready


def _flowise_environment(text: str) -> list[str]:
    """The `x-flowise-environment` block's settings, comments and required values' messages
    left out."""
    block = text.split("x-flowise-environment: &flowise-environment\n", 1)[1].split("\n\n", 1)[0]
    settings = [line.strip() for line in block.splitlines() if not line.strip().startswith("#")]
    return [re.sub(r":\?[^}]*\}", ":?}", setting) for setting in settings]


def test_the_shipped_stack_file_gives_flowise_the_compose_file_s_environment() -> None:
    compose = shipped_path("compose/compose.yaml").read_text()
    swarm = shipped_path("compose/swarm.yaml").read_text()
    assert _flowise_environment(swarm) == _flowise_environment(compose)
    assert len(_flowise_environment(swarm)) > 20


def test_no_required_value_s_message_in_the_stack_file_has_a_dash() -> None:
    """docker stack deploy reads `${NAME:?run compose-flowise init}` as NAME's default from the
    first dash: every secret would be "flowise init" (seen with `docker stack config`, CLI 28)."""
    swarm = shipped_path("compose/swarm.yaml").read_text()
    messages = re.findall(r"\$\{[A-Z_]+:?\?([^}]*)\}", swarm)
    assert len(messages) > 10
    assert [message for message in messages if "-" in message] == []


def test_the_shipped_stack_file_runs_the_compose_file_s_services_and_images() -> None:
    compose = shipped_path("compose/compose.yaml").read_text()
    swarm = shipped_path("compose/swarm.yaml").read_text()

    def services(text: str) -> list[str]:
        section = re.split(r"\n(?:networks|volumes):\n", text.split("\nservices:\n", 1)[1])[0]
        return re.findall(r"^  ([a-z-]+):\n", section, re.M)

    def images(text: str) -> set[str]:
        return set(re.findall(r"image: (\$\{[A-Z_]+:-[^}]+\})", text))

    assert services(swarm) == services(compose)
    assert images(swarm) == images(compose) and len(images(swarm)) == 5


def test_the_mains_drain_config_is_named_after_the_script_s_content() -> None:
    script = Path("/site/compose/drain-on-sigterm.sh")
    first = drain_script_variables(STACK, script, b"#!/bin/sh\n")
    assert first["COMPOSE_FLOWISE_DRAIN_SCRIPT"] == str(script)
    assert first == drain_script_variables(STACK, script, b"#!/bin/sh\n")
    changed = drain_script_variables(STACK, script, b"#!/bin/sh\necho\n")
    assert changed["COMPOSE_FLOWISE_DRAIN_CONFIG"] != first["COMPOSE_FLOWISE_DRAIN_CONFIG"]
    assert first["COMPOSE_FLOWISE_DRAIN_CONFIG"].startswith(f"{STACK}_drain-on-sigterm-")


def test_the_drain_configs_of_earlier_deploys_are_stale_and_nothing_else() -> None:
    current = f"{STACK}_drain-on-sigterm-bbbbbbbbbbbb"
    earlier = f"{STACK}_drain-on-sigterm-aaaaaaaaaaaa"
    names = [current, earlier, f"{STACK}_nginx-conf", f"{STACK}x_drain-on-sigterm-cccccccccccc"]
    assert stale_drain_configs(STACK, names, current) == [earlier]
    assert stale_drain_configs(STACK, [current], current) == []


def test_redis_and_stub_status_are_published_on_127_0_0_1_only_at_the_env_s_ports() -> None:
    env = {"REDIS_HOST_PORT": "16379", "NGINX_STATUS_PORT": "18081"}
    ports = local_ports(STACK, env, "flowise:3.1.4", "source", "nginx")
    assert ports.published == (("127.0.0.1:16379", 6379), ("127.0.0.1:18081", 8081))
    assert (ports.name, ports.network, ports.image) == (
        f"{STACK}_local-ports",
        f"{STACK}_default",
        "flowise:3.1.4",
    )
    assert (ports.entrypoint, *ports.arguments) == (
        "python3", "-c", "source", "6379=redis:6379", "8081=nginx:8081")  # fmt: skip
    defaults = local_ports(STACK, {}, "flowise:3.1.4", "source", "nginx").published
    assert defaults == (("127.0.0.1:6379", 6379), ("127.0.0.1:8081", 8081)), "compose.yaml's"


def test_the_local_ports_container_is_started_anew_when_anything_of_it_changes() -> None:
    env = {"REDIS_HOST_PORT": "6379"}
    same = local_ports(STACK, env, "flowise:3.1.4", "source", "nginx")
    assert same.digest == local_ports(STACK, env, "flowise:3.1.4", "source", "nginx").digest
    changed = [
        local_ports(STACK, {"REDIS_HOST_PORT": "6380"}, "flowise:3.1.4", "source", "nginx"),
        local_ports(STACK, env, "flowise:3.1.5", "source", "nginx"),
        local_ports(STACK, env, "flowise:3.1.4", "source, edited", "nginx"),
        local_ports(STACK, env, "flowise:3.1.4", "source", "proxy"),
    ]
    assert same.digest not in {other.digest for other in changed}


def test_the_shipped_stack_s_mains_stop_only_after_their_drain_and_flowise_s_shutdown() -> None:
    swarm = shipped_path("compose/swarm.yaml").read_text()
    main = swarm.split("\n  flowise:\n", 1)[1].split("\n  flowise-worker:\n", 1)[0]
    entrypoint = '["/bin/sh", "/usr/local/bin/drain-on-sigterm", "flowise", "start"]'
    assert f"entrypoint: {entrypoint}" in main
    script = shipped_path("compose/drain-on-sigterm.sh").read_text()
    waits = sum(int(re.search(rf"{name}:-(\d+)", script)[1])  # type: ignore[index]
                for name in ("DRAIN_SETTLE_SECONDS", "DRAIN_TIMEOUT_SECONDS"))  # fmt: skip
    grace = int(re.search(r"stop_grace_period: (\d+)s", main)[1])  # type: ignore[index]
    assert grace >= waits + 10, "Flowise's own shutdown needs time after the drain"


def test_the_swarm_backend_deploys_the_shipped_stack_file_unless_the_config_lists_files() -> None:
    swarm = parse('[compose]\nbackend = "swarm"\n', "site.toml").compose
    assert swarm.files == (shipped_path("compose/swarm.yaml"),)
    listed = parse('[compose]\nbackend = "swarm"\nfiles = ["mine.yaml"]\n', "site.toml").compose
    assert [str(file) for file in listed.files] == ["mine.yaml"]
    assert parse("", "site.toml").compose.files == (shipped_path("compose/compose.yaml"),)


def test_up_on_swarm_refuses_a_port_bound_to_one_address_before_touching_docker(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    (tmp_path / ".env").write_text("FLOWISE_HTTP_ADDRESS=127.0.0.1\nFLOWISE_HTTP_PORT=8080\n")
    config = tmp_path / "config.toml"
    config.write_text(f'[compose]\nbackend = "swarm"\ndirectory = "{tmp_path}"\n'
                      f'[daemon]\nstate_file = "{tmp_path / "state.json"}"\n')  # fmt: skip
    assert main(["up", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"error: FLOWISE_HTTP_ADDRESS=127.0.0.1 in {tmp_path / '.env'}" in err
    assert "Traceback" not in err and "Docker" not in err


def swarm_config(folder: Path) -> Path:
    config = folder / "config.toml"
    config.write_text(f'[compose]\nbackend = "swarm"\ndirectory = "{folder}"\nproject_name = "cf"\n'
                      f'[daemon]\nstate_file = "{folder / "state.json"}"\n')  # fmt: skip
    (folder / ".env").write_text("REDIS_PASSWORD=s3cret\n")
    return config


def a_backup_of(config: Path, folder: Path) -> Path:
    """What `backup` writes, whole (the manifest's digests match)."""
    folder.mkdir()
    (folder / DUMP).write_bytes(b"PGDMP")
    (folder / ENV).write_text((config.parent / ".env").read_text())
    (folder / CONFIG).write_text(config.read_text())
    digests = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}
    manifest = Manifest(project="cf", created="2026-12-01T08:00:00+00:00",
                        flowise_image="flowiseai/flowise:3.1.4", digests=digests)  # fmt: skip
    (folder / MANIFEST).write_text(manifest.to_json())
    return folder


@pytest.mark.parametrize(
    ("command", "instead"),
    [(["backup", "BACKUP"], "pg_dump or pg_restore in the container of cf_postgres"),
     (["restore", "BACKUP", "RESTORED"], "pg_dump or pg_restore in the container of cf_postgres")],
    ids=["backup", "restore"],
)  # fmt: skip
def test_the_commands_made_for_compose_say_so_on_swarm_and_what_to_do_instead(
    command, instead, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    stack = tmp_path / "stack"
    stack.mkdir()
    config = swarm_config(stack)
    backup = a_backup_of(config, tmp_path / "backup") if "restore" in command else tmp_path / "new"
    places = {"BACKUP": str(backup), "RESTORED": str(tmp_path / "restored")}
    arguments = [places.get(argument, argument) for argument in command]
    configured = [] if "restore" in command else ["--config", str(config)]  # the backup's
    assert main([*arguments, *configured]) == 1
    err = capsys.readouterr().err
    assert f"error: {command[0]} works on a compose stack only, not on the swarm backend" in err
    assert instead in err and "Traceback" not in err
    assert not (tmp_path / "new").exists() and not (tmp_path / "restored").exists()


def test_doctor_on_a_swarm_without_its_engine_says_it_cannot_read_the_tasks(
    tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    stack = tmp_path / "stack"
    stack.mkdir()
    assert main(["doctor", "--config", str(swarm_config(stack))]) == 1
    captured = capsys.readouterr()
    assert "docker_answers: cannot list the running containers: read the tasks of the stack cf" in (
        captured.out
    )
    assert "Traceback" not in captured.out + captured.err
