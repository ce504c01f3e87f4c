"""`doctor`'s look at Redis: does it answer a PING, as the autoscaler reaches it?"""

from __future__ import annotations

import socket
import time

import pytest

from autoscaler.config import Settings
from autoscaler.runtime import redis_ping
from autoscaler.runtime.redis_ping import redis_down


def reaching(url: str, timeout_seconds: float = 2.0) -> Settings:
    return Settings.model_validate({"redis": {"url": url, "timeout_seconds": timeout_seconds}})


def test_a_redis_that_answers_is_not_down(redis_server: str) -> None:
    assert redis_down(reaching(redis_server)) is None


def test_a_redis_nobody_listens_for_is_down_and_says_why(unused_port: int) -> None:
    down = redis_down(reaching(f"redis://127.0.0.1:{unused_port}/0"))
    assert down is not None and down.startswith("ConnectionError: ")


def test_a_wrong_password_is_down_and_says_why(redis_server: str) -> None:
    wrong = redis_server.replace(":test-secret@", ":not-the-password@")
    down = redis_down(reaching(wrong))
    assert down is not None and "AuthenticationError" in down


def test_a_redis_that_never_answers_is_down_within_the_ping_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_ping, "PING_TIMEOUT_SECONDS", 0.2)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        down = redis_down(reaching(url, timeout_seconds=10.0))
        waited = time.monotonic() - started
    assert down is not None and down.startswith("TimeoutError: ")
    assert waited < 2.0
