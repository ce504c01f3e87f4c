"""The lease that lets one daemon act per compose project, against a real Redis."""

from __future__ import annotations

import time

import redis

from autoscaler.runtime.lease import Lease, lease_holder


def lease(url: str, holder: str, ttl: float = 30) -> Lease:
    return Lease(redis.Redis.from_url(url, socket_timeout=2), "proj", holder, ttl)


def holder_of(url: str) -> str | None:
    return lease_holder(redis.Redis.from_url(url, socket_timeout=2), "proj")


def test_the_first_daemon_takes_it_and_renews_it(redis_server) -> None:
    first = lease(redis_server, "a")
    assert first.hold(now=0.0) and first.hold(now=10.0)
    assert holder_of(redis_server) == "a"


def test_a_second_daemon_stands_by_until_the_first_releases(redis_server) -> None:
    first, second = lease(redis_server, "a"), lease(redis_server, "b")
    assert first.hold(0.0)
    assert not second.hold(0.0)
    first.release()
    assert second.hold(1.0)
    assert not first.hold(2.0)
    second.release()


def test_a_lease_not_renewed_expires_and_passes_on(redis_server) -> None:
    first, second = lease(redis_server, "a", ttl=0.3), lease(redis_server, "b")
    assert first.hold(0.0)
    time.sleep(0.4)
    assert second.hold(1.0)
    second.release()


def test_release_never_frees_someone_elses_lease(redis_server) -> None:
    first, second = lease(redis_server, "a"), lease(redis_server, "b")
    assert first.hold(0.0)
    second.release()
    assert holder_of(redis_server) == "a"
    first.release()


def test_redis_gone_keeps_a_renewed_lease_only_until_its_ttl(redis_server, unused_port) -> None:
    held = lease(redis_server, "a", ttl=30)
    assert held.hold(now=100.0)
    held._client = redis.Redis(port=unused_port, socket_connect_timeout=0.5)
    assert held.hold(now=120.0), "still ours: nobody else can have taken it yet"
    assert not held.hold(now=131.0), "past the TTL someone else may hold it"
    lease(redis_server, "a").release()


def test_redis_gone_never_grants_a_lease_never_held(unused_port) -> None:
    nobody = Lease(redis.Redis(port=unused_port, socket_connect_timeout=0.5), "p", "a", 30)
    assert not nobody.hold(now=0.0)


def test_a_lease_renewed_and_ours_is_not_lost(redis_server) -> None:
    held = lease(redis_server, "a", ttl=30)
    assert held.hold(now=0.0)
    assert not held.lost(now=29.0)
    held.release()


def test_a_lease_never_held_or_released_is_lost(redis_server) -> None:
    never = lease(redis_server, "a")
    assert never.lost(now=0.0)
    assert never.hold(now=0.0)
    never.release()
    assert never.lost(now=1.0)


def test_a_lease_not_renewed_within_its_ttl_is_lost_without_asking_redis(redis_server) -> None:
    held = lease(redis_server, "a", ttl=30)
    assert held.hold(now=0.0)
    assert held.lost(now=30.0), "someone else may hold it by now"
    held.release()


def test_a_lease_that_passed_to_another_holder_is_lost(redis_server) -> None:
    """Its key expired in Redis while we did not renew (a paused process, a slow tick) and
    another daemon took it: Redis names another holder, though our own reckoning has time."""
    first, second = lease(redis_server, "a", ttl=0.3), lease(redis_server, "b")
    assert first.hold(now=0.0)
    time.sleep(0.4)
    assert second.hold(now=0.0)
    assert first.lost(now=0.1)
    assert not second.lost(now=0.1)
    first._client = redis.Redis(port=1, socket_connect_timeout=0.2, retry=None)
    assert first.lost(now=0.2), "once lost, lost: Redis unasked"
    second.release()


def test_redis_gone_leaves_a_renewed_lease_ours_until_its_ttl(redis_server, unused_port) -> None:
    held = lease(redis_server, "a", ttl=30)
    assert held.hold(now=100.0)
    held._client = redis.Redis(port=unused_port, socket_connect_timeout=0.5)
    assert not held.lost(now=120.0), "nobody else can have taken it yet"
    assert held.lost(now=130.0), "past its TTL someone else may hold it"
    lease(redis_server, "a").release()
