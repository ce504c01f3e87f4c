"""Load traces: CSV rows of `second,arrivals`, or `second,arrivals,job_seconds`.

`parse_trace` is pure; `read_trace` reads a file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autoscaler.errors import BadInput

HEADERS = {2: "second,arrivals", 3: "second,arrivals,job_seconds"}
BYTE_ORDER_MARK = "\ufeff"


class TraceError(BadInput):
    """A trace that cannot be read or does not follow the format."""


@dataclass(frozen=True)
class Trace:
    name: str
    arrivals: tuple[int, ...]
    """Jobs that arrived in each second, from second 0 on."""
    job_seconds: tuple[float, ...] | None = None
    """How long each of that second's jobs holds a slot; None when the trace does not say."""


def read_trace(path: Path) -> Trace:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise TraceError(f"{path}: cannot read the trace: {reason}") from None
    return parse_trace(text.splitlines(), str(path))


def parse_trace(lines: Iterable[str], source: str) -> Trace:
    """One row per second, in order from 0, after an optional header; a UTF-8 byte order mark
    before it is ignored. The header, or else the first row, sets the columns: two, or three
    with `job_seconds`; every row has as many."""
    arrivals: list[int] = []
    job_seconds: list[float] = []
    columns = 0
    for number, line in enumerate(lines, start=1):
        row = line.lstrip(BYTE_ORDER_MARK).strip() if number == 1 else line.strip()
        header = row.replace(" ", "")
        if number == 1 and header in HEADERS.values():
            columns = header.count(",") + 1
            continue
        if not row:
            continue
        where = f"{source}, line {number}"
        fields = [field.strip() for field in row.split(",")]
        columns = columns or len(fields)
        if len(fields) != columns or columns not in HEADERS:
            raise TraceError(f"{where}: expected `{_expected(columns)}`, found {row!r}")
        second, count = _second_and_count(fields[:2], row, where)
        if second != len(arrivals):
            raise TraceError(f"{where}: expected second {len(arrivals)}, found {second}")
        arrivals.append(count)
        if columns == 3:
            job_seconds.append(_job_seconds(fields[2], where))
    if not arrivals:
        raise TraceError(f"{source}: no rows; expected `{HEADERS[2]}` rows")
    return Trace(source, tuple(arrivals), tuple(job_seconds) if columns == 3 else None)


def _expected(columns: int) -> str:
    return HEADERS.get(columns) or "` or `".join(HEADERS.values())


def _second_and_count(fields: list[str], row: str, where: str) -> tuple[int, int]:
    try:
        second, count = int(fields[0]), int(fields[1])
    except ValueError:
        raise TraceError(f"{where}: expected two whole numbers, found {row!r}") from None
    if count < 0:
        raise TraceError(f"{where}: arrivals must not be negative, found {count}")
    return second, count


def _job_seconds(field: str, where: str) -> float:
    try:
        seconds = float(field)
    except ValueError:
        raise TraceError(f"{where}: expected job_seconds to be a number, found {field!r}") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise TraceError(f"{where}: job_seconds must be above 0, found {field}")
    return seconds
