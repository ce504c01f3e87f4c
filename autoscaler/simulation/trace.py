"""Load traces: CSV rows of `second,arrivals`. `parse_trace` is pure; `read_trace` reads a file."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autoscaler.errors import BadInput

HEADER = "second,arrivals"


class TraceError(BadInput):
    """A trace that cannot be read or does not follow the format."""


@dataclass(frozen=True)
class Trace:
    name: str
    arrivals: tuple[int, ...]
    """Jobs that arrived in each second, from second 0 on."""


def read_trace(path: Path) -> Trace:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise TraceError(f"{path}: cannot read the trace: {reason}") from None
    return parse_trace(text.splitlines(), str(path))


def parse_trace(lines: Iterable[str], source: str) -> Trace:
    """One row per second, in order from 0, after an optional `second,arrivals` header."""
    arrivals: list[int] = []
    for number, line in enumerate(lines, start=1):
        row = line.strip()
        if not row or (number == 1 and row.replace(" ", "") == HEADER):
            continue
        second, count = _row(row, f"{source}, line {number}")
        if second != len(arrivals):
            raise TraceError(
                f"{source}, line {number}: expected second {len(arrivals)}, found {second}"
            )
        arrivals.append(count)
    if not arrivals:
        raise TraceError(f"{source}: no rows; expected `{HEADER}` rows")
    return Trace(source, tuple(arrivals))


def _row(row: str, where: str) -> tuple[int, int]:
    fields = [field.strip() for field in row.split(",")]
    if len(fields) != 2:
        raise TraceError(f"{where}: expected `second,arrivals`, found {row!r}")
    try:
        second, count = int(fields[0]), int(fields[1])
    except ValueError:
        raise TraceError(f"{where}: expected two whole numbers, found {row!r}") from None
    if count < 0:
        raise TraceError(f"{where}: arrivals must not be negative, found {count}")
    return second, count
