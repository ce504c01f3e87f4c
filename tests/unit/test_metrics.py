"""Rates from two reads: arrivals, completions and requests per second."""

from __future__ import annotations

import pytest

from autoscaler.signals.bullmq_reads import QueueDepth, QueueLoad, queue_load
from autoscaler.signals.nginx_stub_status import HttpLoad, StubStatus, http_load


def depth(waiting: int, active: int, created: int, prioritized: int = 0) -> QueueDepth:
    return QueueDepth(waiting, 0, prioritized, 0, 0, active, created)


QUEUE_CASES = {
    "first read: no rates": (None, (10.0, depth(4, 1, 5)), QueueLoad(4, 1, None, None)),
    "steady: arrivals equal completions": (
        (0.0, depth(2, 2, 100)),
        (10.0, depth(2, 2, 150)),
        QueueLoad(2, 2, 5.0, 5.0),
    ),
    "backlog grows: fewer completions than arrivals": (
        (0.0, depth(0, 2, 100)),
        (10.0, depth(20, 2, 150)),
        QueueLoad(20, 2, 5.0, 3.0),
    ),
    "prioritized jobs are backlog too": (
        (0.0, depth(0, 0, 0)),
        (5.0, depth(1, 0, 3, prioritized=2)),
        QueueLoad(3, 0, 0.6, 0.0),
    ),
    "counter went back (queue obliterated): no rates": (
        (0.0, depth(0, 0, 900)),
        (10.0, depth(3, 0, 3)),
        QueueLoad(3, 0, None, None),
    ),
    "same instant twice: no rates": (
        (10.0, depth(0, 0, 5)),
        (10.0, depth(0, 0, 9)),
        QueueLoad(0, 0, None, None),
    ),
}


@pytest.mark.parametrize("previous,current,expected", QUEUE_CASES.values(), ids=QUEUE_CASES.keys())
def test_queue_load(previous, current, expected) -> None:
    assert queue_load(previous, current) == expected


def status(requests: int, reading: int = 0, writing: int = 1) -> StubStatus:
    return StubStatus(3, 10, 10, requests, reading, writing, 2)


HTTP_CASES = {
    "first read: in flight, no rate": (None, (0.0, status(50, 2, 5)), HttpLoad(6, None)),
    "the probe's own request is not in flight": (None, (0.0, status(50, 0, 1)), HttpLoad(0, None)),
    "rate from the counter, less the probe's own request": (
        (0.0, status(100)),
        (10.0, status(201)),
        HttpLoad(0, 10.0),
    ),
    "idle: only the probes themselves": ((0.0, status(100)), (10.0, status(101)), HttpLoad(0, 0.0)),
    "counter reset (nginx restarted): the new count is the interval's": (
        (0.0, status(5000)),
        (10.0, status(41)),
        HttpLoad(0, 4.0),
    ),
}


@pytest.mark.parametrize("previous,current,expected", HTTP_CASES.values(), ids=HTTP_CASES.keys())
def test_http_load(previous, current, expected) -> None:
    assert http_load(previous, current) == expected
