"""Benchmark the scaling policy: compose-flowise vs the Kubernetes HPA vs the oracle, on every
trace, with the default config.

    python bench/policy.py [TRACES_DIR]

TRACES_DIR defaults to ../shared/traces next to the repository. The Markdown table replaces
the policy section of docs/benchmarks.md (between its markers; the rest of the file stays) and
is printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # measure this checkout, not whichever copy is installed

from autoscaler.config import Settings  # noqa: E402
from autoscaler.simulation.run import PolicyResult  # noqa: E402
from autoscaler.simulation.scenario import Scenario, compare, scenario  # noqa: E402
from autoscaler.simulation.service import ServiceModel  # noqa: E402
from autoscaler.simulation.trace import read_trace  # noqa: E402

DEFAULT_TRACES = REPO.parent / "shared" / "traces"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- policy:begin -->", "<!-- policy:end -->"

MODEL = ServiceModel(concurrency=10, startup_seconds=20)
CAPACITY = 5
SLO_SECONDS = 10

Results = list[tuple[str, dict[str, PolicyResult]]]


def main(argv: list[str]) -> int:
    traces = sorted((Path(argv[0]) if argv else DEFAULT_TRACES).glob("*.csv"))
    if not traces:
        print(f"no *.csv traces in {argv[0] if argv else DEFAULT_TRACES}", file=sys.stderr)
        return 2
    chosen = scenario(Settings(), MODEL, CAPACITY, SLO_SECONDS)
    results = [(path.stem, compare(read_trace(path), chosen).policies) for path in traces]
    section = _section(chosen, results)
    BENCHMARKS.parent.mkdir(exist_ok=True)
    existing = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else "# Benchmarks\n"
    BENCHMARKS.write_text(_replace_section(existing, section), encoding="utf-8")
    print(section)
    return 0


def _section(chosen: Scenario, results: Results) -> str:
    policy = chosen.policy
    lines = [
        BEGIN,
        "## Scaling policy: compose-flowise vs the Kubernetes HPA vs the oracle",
        "",
        "Written by `python bench/policy.py`; edit that, not this. Default config "
        f"(`{chosen.service}`, {policy.min_replicas}-{policy.max_replicas} replicas, a decision "
        f"every {chosen.interval_seconds:g} s); service model of `compose-flowise simulate`: "
        f"{MODEL.concurrency} job slots per replica, jobs of {chosen.default_job_seconds:g} s "
        f"({CAPACITY:g} jobs/s per busy replica), {MODEL.startup_seconds} s startup, "
        f"SLO {SLO_SECONDS} s in the queue. KEDA is the HPA with its defaults on waiting + "
        "active jobs (target 80 % of the slots per replica), or on the wait list alone (target "
        "2 s of work); the oracle knows every arrival ahead and starts replicas instantly.",
        "",
        "| trace | policy | replica-seconds | SLO-violation seconds | p95 wait (s) "
        "| scale changes | max replicas |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for trace, by_policy in results:
        for index, (name, result) in enumerate(by_policy.items()):
            lines.append(
                f"| {trace if index == 0 else ''} | {name} | {result.replica_seconds} "
                f"| {result.slo_violation_seconds} | {result.p95_wait_seconds} "
                f"| {result.scale_changes} | {result.max_replicas} |"
            )
    lines += [
        "",
        "| trace | cost: ours / oracle | SLO violations: ours / KEDA | scale changes: ours / KEDA |",
        "|---|--:|--:|--:|",
    ]
    for trace, by_policy in results:
        ours, keda, oracle = by_policy["compose-flowise"], by_policy["keda"], by_policy["oracle"]
        lines.append(
            f"| {trace} | {_ratio(ours.replica_seconds, oracle.replica_seconds)} "
            f"| {_ratio(ours.slo_violation_seconds, keda.slo_violation_seconds)} "
            f"| {_ratio(ours.scale_changes, keda.scale_changes)} |"
        )
    return "\n".join([*lines, END])


def _ratio(ours: int, other: int) -> str:
    if other == 0:
        return "- (both 0)" if ours == 0 else "inf"
    return f"{ours / other:.2f}"


def _replace_section(document: str, section: str) -> str:
    """The document with its policy section replaced, or added at the end."""
    start, end = document.find(BEGIN), document.find(END)
    if start == -1 or end < start:
        return document.rstrip("\n") + "\n\n" + section + "\n"
    return document[:start] + section + document[end + len(END) :]


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
