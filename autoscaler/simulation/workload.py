"""The jobs a trace brings: how many arrive in each second and how long each holds a slot.
Purely computational, no I/O here."""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.simulation.trace import Trace

MS_PER_SECOND = 1000
"""The simulator's clock runs in whole milliseconds: a job's service time is rounded to one."""


@dataclass(frozen=True)
class Workload:
    arrivals: tuple[int, ...]
    """Jobs that arrive in each second, from second 0 on."""
    job_ms: tuple[int, ...]
    """How many milliseconds each of that second's jobs holds a slot."""

    @classmethod
    def of(cls, trace: Trace, default_job_seconds: float) -> Workload:
        """The trace's jobs; each holds a slot for `default_job_seconds` where the trace does
        not say how long."""
        seconds = trace.job_seconds or (default_job_seconds,) * len(trace.arrivals)
        return cls(trace.arrivals, tuple(max(1, round(s * MS_PER_SECOND)) for s in seconds))

    def at(self, second: int) -> tuple[int, int]:
        """The second's arrivals and their service time in ms; none after the trace."""
        if second < len(self.arrivals):
            return self.arrivals[second], self.job_ms[second]
        return 0, 0

    @property
    def slot_ms(self) -> int:
        """The work all jobs together need: each job's service time in ms, summed."""
        return sum(jobs * ms for jobs, ms in zip(self.arrivals, self.job_ms, strict=True))
