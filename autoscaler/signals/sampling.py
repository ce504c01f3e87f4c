"""Rates need two reads: the previous timed sample of a counter, kept by its reader."""

from __future__ import annotations

from typing import Generic, TypeVar

Sample = TypeVar("Sample")


class PreviousSample(Generic[Sample]):
    def __init__(self) -> None:
        self._previous: tuple[float, Sample] | None = None

    def swap(self, now: float, sample: Sample) -> tuple[float, Sample] | None:
        """Keep `sample`, taken at `now`; the one kept before it, if any."""
        previous, self._previous = self._previous, (now, sample)
        return previous
