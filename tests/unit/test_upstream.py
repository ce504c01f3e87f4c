"""The upstream's text and the drain's connection count: pure functions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from autoscaler.actuators.replicas import Replica
from autoscaler.actuators.upstream import (
    NO_REPLICA_ADDRESS,
    open_connections,
    open_sockets,
    render_upstream,
    upstream_servers,
)


def replica(number: int, state="running", health="healthy", network="p_default") -> Replica:
    return Replica(
        id=f"id{number}", name=f"p-flowise-{number}", service="flowise", number=number,
        state=state, health=health, started_at=datetime(2026, 1, 1, tzinfo=UTC),
        addresses={network: f"172.18.0.{number}"},
    )  # fmt: skip


def test_renders_least_conn_with_one_line_per_server_sorted() -> None:
    text = render_upstream("flowise", ["172.18.0.9:3000", "172.18.0.10:3000"])
    assert text.splitlines()[1:] == [
        "upstream flowise {",
        "    least_conn;",
        "    server 172.18.0.10:3000 max_fails=3 fail_timeout=10s;",
        "    server 172.18.0.9:3000 max_fails=3 fail_timeout=10s;",
        "}",
    ]


def test_the_same_servers_in_another_order_render_the_same_text() -> None:
    assert render_upstream("f", ["a:1", "b:1"]) == render_upstream("f", ["b:1", "a:1"])


def test_no_server_renders_the_503_listener_never_an_empty_block() -> None:
    text = render_upstream("flowise", [])
    assert f"server {NO_REPLICA_ADDRESS};" in text
    assert "max_fails" not in text


ROUTABLE = {
    "running and healthy": (replica(2), ["172.18.0.2:3000"]),
    "running without a healthcheck": (replica(2, health=None), ["172.18.0.2:3000"]),
    "still starting": (replica(2, health="starting"), []),
    "unhealthy": (replica(2, health="unhealthy"), []),
    "exited": (replica(2, state="exited", health=None), []),
    "on a network nginx is not on": (replica(2, network="other"), []),
}


@pytest.mark.parametrize("given,expected", ROUTABLE.values(), ids=ROUTABLE.keys())
def test_only_fit_replicas_on_nginx_networks_are_servers(given, expected) -> None:
    assert upstream_servers([given], ["p_default"], 3000) == expected


# /proc/net/tcp inside an nginx container: two requests in flight to 172.18.0.5:3000 (one
# ESTABLISHED, one SYN_SENT), one finished (TIME_WAIT), one to another replica, the listener.
PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1
   1: 030012AC:A1B2 050012AC:0BB8 01 00000000:00000000 00:00000000 00000000   101        0 2 1
   2: 030012AC:A1B3 050012AC:0BB8 02 00000000:00000000 00:00000000 00000000   101        0 3 1
   3: 030012AC:A1B4 050012AC:0BB8 06 00000000:00000000 03:00000F9B 00000000     0        0 0 3
   4: 030012AC:A1B5 060012AC:0BB8 01 00000000:00000000 00:00000000 00000000   101        0 4 1
"""


def test_counts_open_connections_per_server() -> None:
    counts = open_connections(PROC_NET_TCP, {"172.18.0.5:3000", "172.18.0.6:3000"})
    assert counts == {"172.18.0.5:3000": 2, "172.18.0.6:3000": 1}


def test_a_drained_server_counts_zero() -> None:
    assert open_connections(PROC_NET_TCP, {"172.18.0.7:3000"})["172.18.0.7:3000"] == 0


def test_names_each_open_connection_by_local_address_and_inode() -> None:
    sockets = open_sockets(PROC_NET_TCP, {"172.18.0.5:3000", "172.18.0.6:3000"})
    assert sockets == {
        "030012AC:A1B2#2": "172.18.0.5:3000",
        "030012AC:A1B3#3": "172.18.0.5:3000",
        "030012AC:A1B5#4": "172.18.0.6:3000",
    }
