"""Reading load traces: `second,arrivals`, optionally `job_seconds`, and precise errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from autoscaler.simulation.trace import Trace, TraceError, parse_trace, read_trace
from autoscaler.simulation.workload import Workload


@pytest.mark.parametrize(
    "text, arrivals, job_seconds",
    [
        ("second,arrivals\n0,3\n1,0\n2,7\n", (3, 0, 7), None),
        ("0,3\n1,4\n", (3, 4), None),
        ("second, arrivals\r\n0, 3\r\n1, 4\r\n\r\n", (3, 4), None),
        ("\ufeffsecond,arrivals\n0,3\n", (3,), None),
        ("\ufeff0,3\n", (3,), None),
        ("second,arrivals,job_seconds\n0,3,2\n1,0,0.5\n", (3, 0), (2.0, 0.5)),
        ("0,3,12.5\n1,4,1e-1\n", (3, 4), (12.5, 0.1)),
    ],
    ids=[
        "with-header",
        "without-header",
        "spaces-crlf-trailing-blank",
        "byte-order-mark-before-the-header",
        "byte-order-mark-before-a-row",
        "job-seconds-with-header",
        "job-seconds-without-header",
    ],
)
def test_parse_trace(text, arrivals, job_seconds):
    assert parse_trace(text.splitlines(), "t.csv") == Trace("t.csv", arrivals, job_seconds)


@pytest.mark.parametrize(
    "text, message",
    [
        ("second,arrivals\n0,3\n1\n", "t.csv, line 3: expected `second,arrivals`, found '1'"),
        ("second,arrivals\n0,3\n1,x\n", "t.csv, line 3: expected two whole numbers"),
        ("second,arrivals\n0,3\n2,4\n", "t.csv, line 3: expected second 1, found 2"),
        ("0,-1\n", "t.csv, line 1: arrivals must not be negative"),
        ("second,arrivals\n", "t.csv: no rows"),
        ("", "t.csv: no rows"),
        (
            "second,arrivals,job_seconds\n0,3,2\n1,4\n",
            "t.csv, line 3: expected `second,arrivals,job_seconds`, found '1,4'",
        ),
        ("0,3\n1,4,2\n", "t.csv, line 2: expected `second,arrivals`, found '1,4,2'"),
        (
            "0,3,2,9\n",
            "t.csv, line 1: expected `second,arrivals` or `second,arrivals,job_seconds`",
        ),
        ("0,3,x\n", "t.csv, line 1: expected job_seconds to be a number, found 'x'"),
        ("0,3,0\n", "t.csv, line 1: job_seconds must be above 0, found 0"),
        ("0,3,-2\n", "t.csv, line 1: job_seconds must be above 0, found -2"),
        ("0,3,inf\n", "t.csv, line 1: job_seconds must be above 0, found inf"),
        ("0,3,nan\n", "t.csv, line 1: job_seconds must be above 0, found nan"),
        ("0,1\n\ufeff1,2\n", "t.csv, line 2: expected two whole numbers"),
    ],
    ids=[
        "one-field",
        "not-a-number",
        "second-skipped",
        "negative",
        "header-only",
        "empty",
        "job-seconds-missing-in-a-row",
        "job-seconds-in-a-two-column-trace",
        "four-fields",
        "job-seconds-not-a-number",
        "job-seconds-zero",
        "job-seconds-negative",
        "job-seconds-infinite",
        "job-seconds-nan",
        "byte-order-mark-only-at-the-start",
    ],
)
def test_parse_trace_rejects(text, message):
    with pytest.raises(TraceError, match="^" + re.escape(message)):
        parse_trace(text.splitlines(), "t.csv")


def test_read_trace_accepts_a_byte_order_mark(tmp_path: Path):
    path = tmp_path / "excel.csv"
    path.write_text("second,arrivals,job_seconds\n0,3,1.5\n", encoding="utf-8-sig")
    assert read_trace(path) == Trace(str(path), (3,), (1.5,))


def test_read_trace_names_a_missing_file(tmp_path: Path):
    with pytest.raises(TraceError, match=r"missing\.csv: cannot read the trace"):
        read_trace(tmp_path / "missing.csv")


@pytest.mark.parametrize(
    "trace, job_ms",
    [
        (Trace("t", (3, 1)), (2000, 2000)),
        (Trace("t", (3, 1), (0.25, 7.0)), (250, 7000)),
        (Trace("t", (1,), (0.0001,)), (1,)),
    ],
    ids=["default-k-over-c", "from-the-trace", "at-least-a-millisecond"],
)
def test_workload_service_times(trace, job_ms):
    assert Workload.of(trace, default_job_seconds=2.0).job_ms == job_ms
