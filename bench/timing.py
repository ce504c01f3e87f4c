"""What the benches share: the median time of an action."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

ROUNDS = 15


def median_seconds(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)
