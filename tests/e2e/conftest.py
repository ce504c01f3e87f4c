"""The end-to-end harness: a real compose project per test, torn down even when it fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import HarnessError, Load, Stack, running_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """nginx + Redis + one stand-in main, under a project name of its own."""
    try:
        with running_stack(tmp_path) as running:
            yield running
    except HarnessError as error:
        pytest.fail(str(error))


@pytest.fixture
def load(stack: Stack):
    """Makes a Load through the stack's nginx: `with load(hold_ms=...) as running: ...`."""

    def start(hold_ms: int, clients: int = 6) -> Load:
        return Load(stack.http_url, hold_ms, clients)

    return start
