"""Only one daemon acts per compose project: a lease in Redis, taken with SET NX and a
time-to-live, renewed every tick. A second daemon stands by until the lease is free. A leader
asks `lost` right before it acts: one deposed meanwhile acts on nothing (fencing).

Talks to Redis only.
"""

from __future__ import annotations

from contextlib import suppress

import redis

from autoscaler.runtime.redis_keys import lease_key

# Renew only our own lease: a GET then PEXPIRE could extend one another daemon just took.
_TAKE_OR_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def lease_holder(client: redis.Redis, project: str) -> str | None:
    """Who holds the project's lease now; None when it is free. Raises redis.RedisError when
    Redis does not answer: nobody can tell then."""
    value = client.get(lease_key(project))
    return value.decode() if isinstance(value, bytes) else None


class Lease:
    """The right to act on one compose project, held by `holder` for `ttl_seconds` at a time."""

    def __init__(self, client: redis.Redis, project: str, holder: str, ttl_seconds: float) -> None:
        self.key = lease_key(project)
        self.holder = holder
        self._client = client
        self._ttl_ms = int(ttl_seconds * 1000)
        self._valid_until = float("-inf")

    def hold(self, now: float) -> bool:
        """Take or renew the lease. When Redis cannot be asked, a lease we renewed before
        stays ours until its time-to-live runs out, and no longer: nobody else can have it
        sooner."""
        try:
            taken = self._client.eval(_TAKE_OR_RENEW, 1, self.key, self.holder, self._ttl_ms)
        except redis.RedisError:
            return now < self._valid_until
        self._valid_until = now + self._ttl_ms / 1000 if taken else float("-inf")
        return bool(taken)

    def lost(self, now: float) -> bool:
        """True once the lease may have passed to someone else: it was not renewed within its
        time-to-live, or Redis names another holder. Asked right before an action applies, so
        that a deposed leader never acts. When Redis cannot be asked, a lease renewed before
        is still ours until its time-to-live runs out: nobody else can have it sooner."""
        if now >= self._valid_until:
            return True
        try:
            holder = self._client.get(self.key)
        except redis.RedisError:
            return False
        if holder != self.holder.encode():
            self._valid_until = float("-inf")
            return True
        return False

    def release(self) -> None:
        """Give the lease up at once, so a standby daemon takes over on its next tick."""
        with suppress(redis.RedisError):  # unreleased, it expires by itself
            self._client.eval(_RELEASE, 1, self.key, self.holder)
        self._valid_until = float("-inf")
