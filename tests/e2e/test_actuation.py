"""Scaling and nginx as one transaction, on a real Docker engine with real nginx."""

from __future__ import annotations

import time

import pytest
import requests

from autoscaler.actuators.compose import ComposeBackend
from autoscaler.actuators.errors import NginxConfigRejected
from autoscaler.runtime import wiring

pytestmark = pytest.mark.e2e


def upstream_servers(stack) -> list[str]:
    return [line.split()[1] for line in stack.upstream_text().splitlines() if "max_fails" in line]


def test_scale_1_to_4_to_1_under_load_fails_no_request(stack, load) -> None:
    scaler = stack.scaler()
    with load(hold_ms=1500, clients=8) as running:
        time.sleep(2)
        out = scaler.scale("flowise", 4, scaler.snapshot())
        assert (out.before, out.after, len(out.added), out.not_ready) == (1, 4, 3, ())
        assert len(upstream_servers(stack)) == 4
        time.sleep(4)  # every replica takes requests, which are in flight at the scale-in
        before_scale_in = scaler.snapshot()
        scale_in_started = time.monotonic()
        back = scaler.scale("flowise", 1, before_scale_in)
    assert (back.before, back.after, len(back.removed), back.undrained) == (4, 1, 3, 0)
    assert running.failures == [], running.failures[:5]
    # A container's hostname is its id's first 12 characters.
    victim_hosts = {r.id[:12] for r in before_scale_in["flowise"] if r.name in back.removed}
    in_flight_on_victims = [
        a
        for a in running.answers
        if a.started < scale_in_started < a.ended and a.hostname in victim_hosts
    ]
    assert in_flight_on_victims, "no request was in flight on a removed replica at the scale-in"
    left = {c.name for c in stack.docker.compose.ps(all=True)}
    assert left.isdisjoint(back.removed), "removed replicas must be gone, not just stopped"
    assert len(stack.running("flowise")) == 1
    assert len(upstream_servers(stack)) == 1


def test_a_killed_replica_leaves_the_upstream_within_one_tick(stack) -> None:
    scaler = stack.scaler()
    scaler.scale("flowise", 2, scaler.snapshot())
    victim = stack.running("flowise")[-1]
    victim_ip = next(iter(victim.network_settings.networks.values())).ip_address
    assert any(s.startswith(f"{victim_ip}:") for s in upstream_servers(stack))
    stack.docker.container.kill(victim)
    assert scaler.reconcile(scaler.snapshot()), "one tick: the upstream changes and nginx reloads"
    assert not any(s.startswith(f"{victim_ip}:") for s in upstream_servers(stack))
    answers = [requests.get(f"{stack.http_url}/hold?ms=0", timeout=10) for _ in range(20)]
    assert [a.status_code for a in answers] == [200] * 20


def test_a_manual_compose_scale_is_picked_up(stack) -> None:
    stack.docker.compose.up(services=["flowise"], scales={"flowise": 3}, detach=True,
                            recreate=False, dependencies=False, quiet=True)  # fmt: skip
    scaler = stack.scaler()
    deadline = time.monotonic() + 60
    while len(upstream_servers(stack)) < 3 and time.monotonic() < deadline:
        scaler.reconcile(scaler.snapshot())
        time.sleep(0.5)
    assert len(upstream_servers(stack)) == 3
    assert scaler.reconcile(scaler.snapshot()) is False, "an unchanged upstream is not reloaded"


def test_a_config_nginx_rejects_is_never_reloaded(stack) -> None:
    scaler = stack.scaler()
    before = stack.upstream_text()
    snapshot = scaler.snapshot()
    nginx = snapshot["nginx"][0]
    broken = "upstream flowise {\n    least_conn;\n    server 10.0.0.1:99999;\n}\n"
    with pytest.raises(NginxConfigRejected, match="invalid port"):
        scaler.upstream.apply(broken, nginx)
    assert stack.upstream_text() == before
    assert requests.get(f"{stack.http_url}/api/v1/ping", timeout=10).text == "pong"


def test_no_fit_replica_answers_503_at_once(stack) -> None:
    scaler = stack.scaler()
    scaler.scale("flowise", 0, scaler.snapshot())
    started = time.monotonic()
    answer = requests.get(f"{stack.http_url}/api/v1/ping", timeout=10)
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "10"
    assert time.monotonic() - started < 5


def test_nginx_keeps_no_idle_client_connection_a_reload_could_cut(stack) -> None:
    answer = requests.post(f"{stack.http_url}/hold?ms=0", timeout=10)
    assert answer.status_code == 200
    assert answer.headers.get("Connection", "").lower() == "close"


def test_a_replica_removed_between_the_listing_and_its_inspection_is_left_out(
    stack, monkeypatch
) -> None:
    """The replicas are read with one `docker inspect` of them all: a replica removed after the
    listing fails that call; it is left out and the others are read."""
    scaler = stack.scaler()
    scaler.scale("flowise", 2, scaler.snapshot())
    victim = stack.running("flowise")[-1]
    docker = wiring.docker_client(stack.settings)
    listed = docker.container.list

    def listed_then_one_removed(*args, **kwargs):
        containers = listed(*args, **kwargs)
        docker.container.remove(victim.id, force=True)
        return containers

    monkeypatch.setattr(docker.container, "list", listed_then_one_removed)
    snapshot = ComposeBackend(docker, stack.settings.compose.project_name).replicas()
    assert [r.name for r in snapshot["flowise"]] == [c.name for c in stack.running("flowise")], (
        "the main left"
    )
    assert [r.state for r in snapshot["nginx"]] == ["running"]
