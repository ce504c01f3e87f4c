"""A Swarm stack's tasks read as replicas, and the upstream their addresses make (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from autoscaler.actuators.tasks import (
    asked_at,
    container_id,
    listed_tasks,
    snapshot_from_tasks,
    task_addresses,
    task_nodes,
)
from autoscaler.actuators.upstream import upstream_servers

STACK = "cf"
OVERLAY = "cf_default"


def task(
    task_id: str,
    slot: int,
    state: str = "running",
    desired: str = "running",
    address: str | None = None,
    container: str | None = "c",
    healthcheck: list[str] | None = None,
) -> dict:
    """A task as `docker inspect --type task` shows it (the fields the backend reads)."""
    status: dict = {"Timestamp": "2026-12-01T08:00:01.123456789Z", "State": state}
    if container:
        status["ContainerStatus"] = {"ContainerID": f"{container}-{task_id}", "PID": 7}
    attachments = []
    if address:
        network = {"ID": "n1", "Spec": {"Name": OVERLAY, "Driver": "overlay"}}
        attachments.append({"Network": network, "Addresses": [f"{address}/24"]})
    spec = {"ContainerSpec": {"Healthcheck": {"Test": healthcheck}} if healthcheck else {}}
    return {"ID": task_id, "Slot": slot, "NodeID": "node-a", "ServiceID": "s1", "Spec": spec,
            "DesiredState": desired, "Status": status, "NetworksAttachments": attachments}  # fmt: skip


def stack_ps(*names: tuple[str, str]) -> str:
    """`docker stack ps --no-trunc --format '{{json .}}'`: one object a line."""
    return "\n".join(
        json.dumps({"ID": task_id, "Name": name, "DesiredState": "Running", "Node": "node-a"})
        for task_id, name in names
    )


def test_the_listing_names_each_task_s_compose_service() -> None:
    listing = stack_ps(("t1", "cf_flowise.1"), ("t2", "cf_flowise-worker.12"), ("t3", "cf_nginx.1"),
                       ("t4", " \\_ cf_nginx.1"))  # fmt: skip
    assert listed_tasks(STACK, listing + "\n") == {
        "t1": "flowise", "t2": "flowise-worker", "t3": "nginx", "t4": "nginx",
    }  # fmt: skip


def test_a_running_task_is_a_fit_replica_with_its_own_address_and_slot() -> None:
    snapshot = snapshot_from_tasks({"t1": "flowise"}, [task("t1", 3, address="10.0.1.7")])
    [replica] = snapshot["flowise"]
    assert (replica.id, replica.name, replica.number) == ("t1", "flowise.3", 3)
    assert replica.routable and replica.state == "running" and replica.health is None
    assert replica.addresses == {OVERLAY: "10.0.1.7"}
    assert replica.started_at == datetime(2026, 12, 1, 8, 0, 1, 123456, tzinfo=UTC)


def test_a_task_on_its_way_counts_as_running_but_is_not_fit_yet_and_says_where_it_is() -> None:
    tasks = [task("t1", 1, state="pending", container=None), task("t2", 2, state="starting")]
    replicas = snapshot_from_tasks({"t1": "flowise", "t2": "flowise"}, tasks)["flowise"]
    assert [(r.state, r.health, r.routable) for r in replicas] == [
        ("running", "pending", False), ("running", "starting", False),
    ]  # fmt: skip


def test_each_replica_knows_the_node_the_listing_names_and_none_before_swarm_chose_one() -> None:
    listing = "\n".join([
        json.dumps({"ID": "t1", "Name": "cf_flowise.1", "Node": "node-a"}),
        json.dumps({"ID": "t2", "Name": "cf_flowise.2", "Node": ""}),
    ])  # fmt: skip
    tasks = [task("t1", 1), task("t2", 2, state="pending", container=None)]
    snapshot = snapshot_from_tasks(listed_tasks(STACK, listing), tasks, task_nodes(listing))
    assert [(r.name, r.node) for r in snapshot["flowise"]] == [
        ("flowise.1", "node-a"),
        ("flowise.2", ""),
    ]


def test_tasks_swarm_is_stopping_or_has_stopped_are_left_out() -> None:
    tasks = [
        task("old", 1, state="shutdown", desired="shutdown"),
        task("going", 2, state="running", desired="shutdown"),
        task("now", 1),
    ]
    services = {"old": "flowise", "going": "flowise", "now": "flowise"}
    assert [r.id for r in snapshot_from_tasks(services, tasks)["flowise"]] == ["now"]


def test_a_failed_task_swarm_still_wants_is_a_replica_that_does_not_run() -> None:
    [replica] = snapshot_from_tasks({"t1": "flowise"}, [task("t1", 1, state="failed")])["flowise"]
    assert replica.state == "failed" and not replica.routable


def test_replicas_are_by_service_lowest_slot_first_and_unlisted_tasks_ignored() -> None:
    tasks = [task("b", 2), task("a", 1), task("w", 1), task("other-stack", 1)]
    snapshot = snapshot_from_tasks({"a": "flowise", "b": "flowise", "w": "flowise-worker"}, tasks)
    assert {service: [r.id for r in rs] for service, rs in snapshot.items()} == {
        "flowise": ["a", "b"], "flowise-worker": ["w"],
    }  # fmt: skip


def test_the_upstream_lists_the_fit_tasks_addresses_on_nginx_s_overlay() -> None:
    services = {"n": "nginx", "a": "flowise", "b": "flowise", "c": "flowise"}
    tasks = [
        task("n", 1, address="10.0.1.2"),
        task("a", 1, address="10.0.1.5"),
        task("b", 2, address="10.0.1.6", state="starting"),
        task("c", 3, address="10.0.1.9"),
    ]
    snapshot = snapshot_from_tasks(services, tasks)
    [nginx] = snapshot["nginx"]
    assert upstream_servers(snapshot["flowise"], nginx.addresses, 3000) == [
        "10.0.1.5:3000", "10.0.1.9:3000",
    ]  # fmt: skip


def test_addresses_drop_the_prefix_length_and_skip_networks_without_one() -> None:
    bare = {"Network": {"Spec": {"Name": "cf_other"}}, "Addresses": []}
    listed = task("t", 1, address="10.0.9.4")
    listed["NetworksAttachments"].append(bare)
    assert task_addresses(listed) == {OVERLAY: "10.0.9.4"}


def test_a_task_has_a_container_only_once_a_node_made_it() -> None:
    assert container_id(task("t", 1)) == "c-t"
    assert container_id(task("t", 1, state="pending", container=None)) is None


def test_a_task_s_healthcheck_test_is_its_probe_as_for_a_container() -> None:
    tests = {"t1": ["CMD", "curl", "-f", "http://127.0.0.1:3000/api/v1/ping"],
             "t2": ["CMD-SHELL", "redis-cli ping"], "t3": ["NONE"]}  # fmt: skip
    inspected = [task(task_id, 1, healthcheck=test) for task_id, test in tests.items()]
    inspected.append(task("t4", 1))
    snapshot = snapshot_from_tasks(dict.fromkeys(["t1", "t2", "t3", "t4"], "flowise"), inspected)
    assert [r.probe for r in snapshot["flowise"]] == [
        ("curl", "-f", "http://127.0.0.1:3000/api/v1/ping"), ("sh", "-c", "redis-cli ping"), (), (),
    ]  # fmt: skip


def test_a_probe_of_the_task_s_own_loopback_asks_its_address_instead() -> None:
    assert asked_at(("curl", "-fsS", "http://127.0.0.1:3000/api/v1/ping"), "10.0.1.7") == (
        "curl", "-fsS", "http://10.0.1.7:3000/api/v1/ping",
    )  # fmt: skip
    assert asked_at(("sh", "-c", "wget -q -O- http://localhost/ready || exit 1"), "10.0.1.7") == (
        "sh", "-c", "wget -q -O- http://10.0.1.7/ready || exit 1",
    )  # fmt: skip


def test_a_probe_that_asks_no_url_on_the_loopback_cannot_be_asked_from_elsewhere() -> None:
    assert asked_at(("pg_isready", "-h", "127.0.0.1"), "10.0.1.7") == ()
    assert asked_at(("curl", "http://127.0.0.10:3000/"), "10.0.1.7") == ()
    assert asked_at(("curl", "http://localhost.example/"), "10.0.1.7") == ()
