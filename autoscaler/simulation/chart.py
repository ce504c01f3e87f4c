"""A picture of one comparison: the load, the replicas each policy asked for, and how long the
oldest waiting job had waited, second by second. Drawn with matplotlib, the optional `chart`
extra; the picture is returned as PNG bytes, written by the caller."""

from __future__ import annotations

import io

from autoscaler.errors import OperatorError
from autoscaler.simulation.scenario import Comparison

EXTRA_MISSING = (
    "the chart needs matplotlib, in the `chart` extra: pip install 'compose-flowise[chart]'"
)


class ChartUnavailable(OperatorError):
    """matplotlib is not installed."""


def png(comparison: Comparison, title: str, slo_seconds: float) -> bytes:
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError:
        raise ChartUnavailable(EXTRA_MISSING) from None
    figure = Figure(figsize=(12, 9), layout="constrained")
    load, replicas, wait = figure.subplots(3, 1, sharex=True)
    figure.suptitle(title)
    load.step(range(len(comparison.arrivals)), comparison.arrivals, where="post", color="0.3")
    load.set_ylabel("jobs arriving per second")
    for name, timeline in comparison.timelines.items():
        seconds = range(len(timeline.replicas))
        replicas.step(seconds, timeline.replicas, where="post", label=name)
        wait.plot(seconds, timeline.queue_wait_seconds, label=name)
    replicas.set_ylabel("replicas asked for")
    replicas.legend(loc="upper left", bbox_to_anchor=(1, 1))
    wait.axhline(slo_seconds, color="red", linestyle="--", label=f"SLO {slo_seconds:g} s")
    wait.set_ylabel("oldest job's wait (s)")
    wait.set_xlabel("second")
    wait.legend(loc="upper left", bbox_to_anchor=(1, 1))
    picture = io.BytesIO()
    figure.savefig(picture, format="png", dpi=100)
    return picture.getvalue()
