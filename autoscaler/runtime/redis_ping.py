"""Whether Redis answers, as the autoscaler reaches it: for `doctor`, which talks to no Redis
itself. Talks to Redis only, and only reads."""

from __future__ import annotations

import redis

from autoscaler.config import Settings
from autoscaler.runtime import wiring

PING_TIMEOUT_SECONDS = 1.0
"""The longest `doctor` waits for Redis to answer (the config's timeout, if shorter)."""


def redis_down(settings: Settings) -> str | None:
    """Why Redis does not answer a PING; None when it does."""
    timeout = min(settings.redis.timeout_seconds, PING_TIMEOUT_SECONDS)
    try:
        wiring.redis_client(settings, timeout).ping()
    except redis.RedisError as error:
        return f"{type(error).__name__}: {error}"
    return None
