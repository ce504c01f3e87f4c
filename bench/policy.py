"""Benchmark the scaling policy: compose-flowise vs KEDA, Knative's KPA, KEDA on the wait list
alone and the oracle, next to the lower bound, on every trace, for four service models, with the
default config; and check our policy against its targets.

    python bench/policy.py [TRACES_DIR]

TRACES_DIR (the shared traces) defaults to ../shared/traces next to the repository; our own
traces come from bench/traces.py. The Markdown replaces the policy section of
docs/benchmarks.md (between its markers; the rest of the file stays) and is printed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever copy is installed

from autoscaler.config import Settings  # noqa: E402
from autoscaler.simulation.scenario import (  # noqa: E402
    OURS,
    Comparison,
    Scenario,
    compare,
    scenario,
)
from autoscaler.simulation.service import ServiceModel  # noqa: E402
from autoscaler.simulation.trace import Trace, read_trace  # noqa: E402
from bench.traces import SMOOTH as OUR_SMOOTH  # noqa: E402
from bench.traces import our_traces  # noqa: E402

DEFAULT_TRACES = REPO.parent / "shared" / "traces"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- policy:begin -->", "<!-- policy:end -->"

POLICIES = (OURS, "keda", "kpa", "keda-wait-only", "oracle")
CONCURRENCY = 10
MIN_REPLICAS, MAX_REPLICAS = 1, 50
SMOOTH = ("diurnal", "noisy-flat", *OUR_SMOOTH)
"""The traces on which ours should come within `BOUND_RATIO` of the lower bound."""
CHEAPER_SHARE, COST_RATIO, BOUND_RATIO = 0.9, 1.15, 1.6


@dataclass(frozen=True)
class ParameterSet:
    """Jobs per second one busy replica completes (C), its startup and the SLO, in seconds."""

    capacity: float
    startup: int
    slo: float

    def __str__(self) -> str:
        return f"{self.capacity:g}/{self.startup}/{self.slo:g}"


PARAMETER_SETS = (
    ParameterSet(5, 20, 10),
    ParameterSet(2, 60, 10),
    ParameterSet(20, 10, 10),
    ParameterSet(5, 90, 30),
)


@dataclass(frozen=True)
class Cell:
    parameters: ParameterSet
    trace: str
    comparison: Comparison

    def figures(self, name: str) -> tuple[int, int, int]:
        result = self.comparison.policies[name]
        return result.replica_seconds, result.slo_violation_seconds, result.scale_changes


@dataclass(frozen=True)
class Target:
    column: str
    description: str
    met: Callable[[Cell], bool]
    shown: Callable[[Cell], str]
    """Ours, and what the target compares it with."""
    applies: Callable[[Cell], bool] = lambda cell: True


def _cheaper_baseline(cell: Cell) -> int:
    return min(cell.figures("keda")[0], cell.figures("kpa")[0])


def _cost_ratio(cell: Cell) -> float:
    return cell.figures(OURS)[0] / _cheaper_baseline(cell)


def _bound_ratio(cell: Cell) -> float:
    return cell.figures(OURS)[0] / cell.comparison.lower_bound_replica_seconds


TARGETS = (
    Target(
        "SLO-s <= keda, kpa",
        "no more SLO-violation seconds than `keda`, nor than `kpa`, in any cell",
        met=lambda c: c.figures(OURS)[1] <= min(c.figures("keda")[1], c.figures("kpa")[1]),
        shown=lambda c: f"{c.figures(OURS)[1]} vs {c.figures('keda')[1]}, {c.figures('kpa')[1]}",
    ),
    Target(
        "changes <= keda",
        "no more scale changes than `keda` in any cell",
        met=lambda c: c.figures(OURS)[2] <= c.figures("keda")[2],
        shown=lambda c: f"{c.figures(OURS)[2]} vs {c.figures('keda')[2]}",
    ),
    Target(
        "cost <= cheaper of keda, kpa",
        "replica-seconds no more than the cheaper of `keda` and `kpa` in at least "
        f"{CHEAPER_SHARE:.0%} of the cells, and never more than {COST_RATIO:g}x it",
        met=lambda c: _cost_ratio(c) <= 1,
        shown=lambda c: f"{_cost_ratio(c):.2f}x",
    ),
    Target(
        f"cost <= {BOUND_RATIO:g}x bound",
        f"replica-seconds within {BOUND_RATIO:g}x the lower bound on the smooth traces "
        f"({', '.join(SMOOTH)})",
        applies=lambda cell: cell.trace in SMOOTH,
        met=lambda c: _bound_ratio(c) <= BOUND_RATIO,
        shown=lambda c: f"{_bound_ratio(c):.2f}x",
    ),
)


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else DEFAULT_TRACES
    shared = sorted(folder.glob("*.csv"))
    if not shared:
        print(f"no *.csv traces in {folder}", file=sys.stderr)
        return 2
    traces = [replace(read_trace(path), name=path.stem) for path in shared] + our_traces()
    cells = [_cell(parameters, trace) for parameters in PARAMETER_SETS for trace in traces]
    section = _section(cells, _scenario(PARAMETER_SETS[0]))
    existing = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    BENCHMARKS.write_text(_replace_section(existing, section), encoding="utf-8")
    print(section)
    return 0


def _scenario(parameters: ParameterSet) -> Scenario:
    """The default config's queue-scaled service, on one parameter set."""
    model = ServiceModel(concurrency=CONCURRENCY, startup_seconds=parameters.startup)
    return scenario(
        Settings(), model, parameters.capacity, parameters.slo, MIN_REPLICAS, MAX_REPLICAS
    )


def _cell(parameters: ParameterSet, trace: Trace) -> Cell:
    return Cell(parameters, trace.name, compare(trace, _scenario(parameters)))


def _section(cells: list[Cell], ours: Scenario) -> str:
    lines = [BEGIN, *_introduction(ours)]
    for parameters in PARAMETER_SETS:
        row = [cell for cell in cells if cell.parameters == parameters]
        lines += _figures_table(parameters, row) + _targets_table(row)
    lines += _summary(cells)
    return "\n".join([*lines, END])


def _introduction(ours: Scenario) -> list[str]:
    return [
        "## Scaling policy: compose-flowise vs KEDA, Knative's KPA and the oracle",
        "",
        "Written by `python bench/policy.py`; edit that, not this. The service model of "
        f"`compose-flowise simulate`: K = {CONCURRENCY} job slots per replica (the stack's "
        "WORKER_CONCURRENCY); a job holds a slot for its service time, the trace's "
        "`job_seconds` or else K/C s; a starting replica costs but takes no job and is not "
        "reported ready; a removed busy replica takes no new job and costs until its running "
        "ones are done; after the trace the run goes on until every job is done. "
        f"{MIN_REPLICAS}-{MAX_REPLICAS} replicas; every policy starts from {MIN_REPLICAS}, and "
        "sees only what the daemon can observe (replicas asked for and ready, jobs waiting and "
        "active, the job counter, the jobs completed and their service time).",
        "",
        f"- `compose-flowise`: ours, the default config's `{ours.service}`, as the daemon runs "
        f"it (a decision every {ours.interval_seconds:g} s; it starts from "
        f"{ours.signal.jobs_per_second_per_replica:g} job/s per replica and learns from the "
        "queue). Its defaults were chosen on these cells (issue 12); traces it was not tuned "
        "on may do worse.",
        "- `keda`: the Kubernetes HPA with its defaults (15 s sync, tolerance 0.1, 300 s "
        "scale-down stabilization, up max(4 pods, 100 %) and down 100 % per 15 s; "
        "kubernetes pkg/controller/podautoscaler), fed by KEDA one metric, waiting + active "
        "jobs, at an AverageValue of 80 % of K per replica: what an expert configures (a "
        "metrics-api or prometheus trigger; klippa-app's keda-celery-scaler sizes on "
        "(active + queued) / workers too). KEDA's metrics server asks its scaler at each HPA "
        "query (`useCachedMetrics` is off by default), so it acts at the HPA's 15 s sync; its "
        "30 s `pollingInterval` only times the step between 0 and 1 replica.",
        "- `kpa`: the Knative Pod Autoscaler with the `config-autoscaler` defaults "
        "(knative/serving pkg/autoscaler/config/config.go, scaling/autoscaler.go): the jobs in "
        "flight (waiting + active: Knative counts the requests queued in its queue-proxy and "
        "activator too) sampled every second, a decision every 2 s, a target of 70 % of K per "
        "ready replica; sized for the 60 s stable window's average; panic when the 6 s panic "
        "window's average wants >= 200 % of the ready replicas, and then sized for the larger "
        "of both windows and never scaling down until 60 s pass without that; up to 1000x and "
        "down to 1/2 of the ready replicas per tick.",
        "- `keda-wait-only`: the same HPA on KEDA's Redis list scaler reading BullMQ's wait "
        "list alone, at 2 s of work (2 x C jobs) per replica: this bench's baseline before. A "
        "queue that keeps up reads 0 there.",
        "- `oracle`: clairvoyant, with no startup delay: each second the fewest replicas with "
        "a slot for every job waiting and every job that would be running had each started on "
        "arrival. Not a bound: a policy that lets jobs wait within the SLO may pay less.",
        "- lower bound: the jobs' service times summed, over K, rounded up. No policy pays "
        "less: every job runs to its end in a slot, and a replica-second paid holds K slots.",
        "",
        "The shared traces are described in ../shared/traces/README.md, ours in "
        "bench/traces.py. Each cell: replica-seconds / SLO-violation seconds / scale changes. "
        "Our policy's targets, checked below each table:",
        "",
        *(f"- {target.column}: {target.description}." for target in TARGETS),
    ]


def _figures_table(parameters: ParameterSet, row: list[Cell]) -> list[str]:
    header = " | ".join(POLICIES)
    lines = [
        "",
        f"### C = {parameters.capacity:g} jobs/s per replica, startup {parameters.startup} s, "
        f"SLO {parameters.slo:g} s",
        "",
        f"| trace | {header} | lower bound |",
        "|---|" + "--:|" * (len(POLICIES) + 1),
    ]
    for cell in row:
        figures = " | ".join(" / ".join(map(str, cell.figures(name))) for name in POLICIES)
        bound = cell.comparison.lower_bound_replica_seconds
        lines.append(f"| {cell.trace} | {figures} | {bound} |")
    return lines


def _targets_table(row: list[Cell]) -> list[str]:
    lines = [
        "",
        "| trace | " + " | ".join(target.column for target in TARGETS) + " |",
        "|---|" + "---|" * len(TARGETS),
    ]
    for cell in row:
        verdicts = [_verdict(target, cell) for target in TARGETS]
        lines.append(f"| {cell.trace} | " + " | ".join(verdicts) + " |")
    return lines


def _verdict(target: Target, cell: Cell) -> str:
    if not target.applies(cell):
        return ""
    return f"{'met' if target.met(cell) else '**missed**'}: {target.shown(cell)}"


def _summary(cells: list[Cell]) -> list[str]:
    lines = ["", "### Targets over all cells", ""]
    for target in TARGETS:
        judged = [cell for cell in cells if target.applies(cell)]
        missed = [f"{cell.parameters} {cell.trace}" for cell in judged if not target.met(cell)]
        where = f": missed in {', '.join(missed)}" if missed else ""
        met = len(judged) - len(missed)
        lines.append(f"- {target.column}: met in {met} of {len(judged)}{where}")
    cheaper = sum(_cost_ratio(cell) <= 1 for cell in cells) / len(cells)
    worst = max(cells, key=_cost_ratio)
    lines += [
        f"- cheaper than the cheaper baseline in {cheaper:.0%} of cells (target "
        f"{CHEAPER_SHARE:.0%}); the worst ratio {_cost_ratio(worst):.2f}x ({worst.parameters} "
        f"{worst.trace}; target at most {COST_RATIO:g}x)",
        "",
        "Parameter sets read C/startup/SLO.",
    ]
    return lines


def _replace_section(document: str, section: str) -> str:
    """The document with its policy section replaced, or added at the end."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + section + "\n"
    return document[:start] + section + document[end + len(END) :]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
