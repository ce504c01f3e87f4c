"""Load traces of our own for the policy bench, made in memory from fixed seeds: the same
numbers on every run. Arrivals are Poisson noise around a rate curve, one hour each.

    python bench/traces.py OUT_DIR    writes them as CSVs, for `compose-flowise simulate`

| trace | shape |
|---|---|
| on-off | 3/s, with bursts of 40/s for 2 minutes every 10 minutes |
| slow-ramp | from 2/s up to 40/s, evenly over the hour |
| job-mix | 8/s; jobs of 5 s, of 0.5 s from minute 20, of 5 s again from minute 40 |
| bimodal | 10/s; each second's jobs take 1 s, or 12 s one second in five |

A trace gives one service time per second (`job_seconds`), so bimodal durations alternate
between seconds, not within one.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever copy is installed

from autoscaler.simulation.trace import HEADERS, Trace  # noqa: E402

SECONDS = 3600
SMOOTH = ("slow-ramp",)
"""Our traces whose load changes slowly enough for a policy to follow it closely."""


def our_traces() -> list[Trace]:
    return [on_off(), slow_ramp(), job_mix(), bimodal()]


def on_off() -> Trace:
    return Trace("on-off", _poisson(lambda s: 40.0 if s % 600 < 120 else 3.0, seed=11))


def slow_ramp() -> Trace:
    return Trace("slow-ramp", _poisson(lambda s: 2 + 38 * s / SECONDS, seed=12))


def job_mix() -> Trace:
    job_seconds = tuple(0.5 if 1200 <= s < 2400 else 5.0 for s in range(SECONDS))
    return Trace("job-mix", _poisson(lambda s: 8.0, seed=13), job_seconds)


def bimodal() -> Trace:
    durations = random.Random(14)
    job_seconds = tuple(12.0 if durations.random() < 0.2 else 1.0 for _ in range(SECONDS))
    return Trace("bimodal", _poisson(lambda s: 10.0, seed=15), job_seconds)


def _poisson(rate: Callable[[int], float], seed: int) -> tuple[int, ...]:
    """Arrivals per second around `rate(second)` (Knuth's method)."""
    rng = random.Random(seed)

    def draw(mean: float) -> int:
        limit, count, product = math.exp(-mean), 0, rng.random()
        while product > limit:
            count += 1
            product *= rng.random()
        return count

    return tuple(draw(rate(second)) for second in range(SECONDS))


def _csv(trace: Trace) -> str:
    """The trace as `compose-flowise simulate` reads it."""
    job_seconds = trace.job_seconds
    rows = [HEADERS[3] if job_seconds else HEADERS[2]]
    for second, arrivals in enumerate(trace.arrivals):
        service_time = f",{job_seconds[second]:g}" if job_seconds else ""
        rows.append(f"{second},{arrivals}{service_time}")
    return "\n".join(rows) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    traces = our_traces()
    for trace in traces:
        (folder / f"{trace.name}.csv").write_text(_csv(trace), encoding="utf-8")
    print(f"wrote {len(traces)} traces to {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
