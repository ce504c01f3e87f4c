"""What the benches share: the median time of an action, and writing their section of
docs/benchmarks.md."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROUNDS = 15
DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def median_seconds(action: Callable[[], object], rounds: int = ROUNDS) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def write_section(text: str, begin: str, end: str) -> None:
    """`text` (which starts with `begin` and ends with `end`) in docs/benchmarks.md, in place of
    what stood between them, else at its end."""
    docs = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    if begin in docs and end in docs:
        head, rest = docs.split(begin, 1)
        docs = head + text + rest.split(end, 1)[1]
    else:
        docs = docs.rstrip("\n") + "\n\n" + text + "\n"
    DOCS.write_text(docs)
