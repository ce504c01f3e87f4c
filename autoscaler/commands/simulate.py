"""`compose-flowise simulate`: replay a load trace under our policy and the baselines. Parse,
call, print: the simulation itself is in autoscaler.simulation."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TypeVar

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.errors import OperatorError
from autoscaler.files import write_atomically
from autoscaler.simulation import chart
from autoscaler.simulation.scenario import Comparison, Scenario, compare, scenario
from autoscaler.simulation.service import ServiceModel
from autoscaler.simulation.trace import Trace, read_trace

Number = TypeVar("Number", int, float)

EPILOG = """\
service model:
  Each replica has K slots (--concurrency); a job holds one for its service time: the trace's
  third column, job_seconds, or else K/C seconds (--capacity: a busy replica then completes C
  jobs per second). Jobs no free slot can take wait in FIFO order. A replica asked for costs
  from then on, but takes jobs, and is reported ready, only S seconds later (--startup).
  Scaling in removes starting replicas first, then the idlest: a removed replica's busy slots
  take no new job and finish the running one, and the replica costs until it is done. After
  the trace, seconds without arrivals follow until every job is done.
  A second violates the SLO when, at its end, a job has waited longer than --slo seconds;
  a job's wait runs from the second it arrived to the second it took a slot.

policies, each starting from the min replica count; what they see is what the daemon sees
(replicas asked for and ready, jobs waiting and active, the job counter, the jobs completed
and their service times):
  compose-flowise  the config's queue-scaled service (the first with a bullmq_queue signal,
                   on that signal alone), every daemon.interval_seconds: the same decide()
                   the daemon runs. It is not told C: its config has its own
                   jobs_per_second_per_replica, and it learns from the queue.
  keda             the Kubernetes HPA (autoscaling/v2) with its defaults: 15 s sync,
                   tolerance 0.1, 300 s scale-down stabilization, up max(4 pods, 100 %) and
                   down 100 % per 15 s; fed by KEDA one metric, waiting + active jobs, with
                   an AverageValue target of 0.8 x K per replica. KEDA asks its scaler at each
                   HPA sync (useCachedMetrics off); its 30 s pollingInterval only times the
                   step between 0 and 1 replica.
  kpa              the Knative Pod Autoscaler with Knative Serving's config-autoscaler
                   defaults, on the jobs in flight (waiting + active), sampled every second:
                   a 2 s tick; target 70 % of K per ready replica; sized for the 60 s stable
                   window's average; panic when the 6 s panic window's average wants >= 200 %
                   of the ready replicas, then also sized for that window and never scaling
                   down, until 60 s pass without that; up to 1000x and down to 1/2 of the
                   ready replicas per tick.
  keda-wait-only   the same HPA on KEDA's Redis list scaler reading BullMQ's wait list alone,
                   with a target of 2 s of work (2 x C jobs) per replica.
  oracle           clairvoyant, with no startup delay: every second the fewest replicas with
                   a slot for each job waiting and each job that would be running had every
                   job started on arrival.

lower bound: the jobs' service times summed, over K. No policy can pay fewer
replica-seconds: every job runs to its end in a slot, K to a paid replica-second.
"""


def _checked(
    kind: Callable[[str], Number], accept: Callable[[Number], bool], rule: str
) -> Callable[[str], Number]:
    """An argparse type: `kind`, and `accept` must hold of the value."""

    def parse(text: str) -> Number:
        value = kind(text)
        if not accept(value):
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names it in "invalid float value: 'x'"
    return parse


_positive_float = _checked(
    float, lambda value: 0 < value < math.inf, "must be a finite number above 0"
)
_positive_int = _checked(int, lambda value: value > 0, "must be above 0")
_whole_number = _checked(int, lambda value: value >= 0, "must not be negative")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Replay a load trace (CSV `second,arrivals` or `second,arrivals,job_seconds`) through "
        "a service model under compose-flowise's policy, KEDA (the Kubernetes HPA), Knative's "
        "KPA and an oracle, and score each."
    )
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--trace", type=Path, required=True, metavar="FILE", help="the trace")
    add_config_option(parser)
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=10,
        metavar="K",
        help="job slots per replica: the stack's WORKER_CONCURRENCY (default: 10)",
    )
    parser.add_argument(
        "--capacity",
        type=_positive_float,
        default=5.0,
        metavar="C",
        help="jobs per second one busy replica completes where the trace gives no "
        "job_seconds: each job holds a slot K/C seconds (default: 5)",
    )
    parser.add_argument(
        "--startup",
        type=_whole_number,
        default=20,
        metavar="S",
        help="seconds from asking for a replica to its taking jobs (default: 20)",
    )
    parser.add_argument(
        "--slo",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="longest acceptable wait for a slot (default: 10)",
    )
    parser.add_argument(
        "--min",
        type=_whole_number,
        dest="min_replicas",
        metavar="N",
        help="fewest replicas (default: the queue-scaled service's min_replicas)",
    )
    parser.add_argument(
        "--max",
        type=_positive_int,
        dest="max_replicas",
        metavar="N",
        help="most replicas (default: the queue-scaled service's max_replicas)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of a table, with each policy's run second by second",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        metavar="FILE.png",
        help="also draw the load, each policy's replicas and the queue wait over time into "
        "this PNG (needs the `chart` extra: pip install 'compose-flowise[chart]')",
    )
    parser.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    trace = read_trace(args.trace)
    chosen = scenario(
        load_config(args).settings,
        ServiceModel(concurrency=args.concurrency, startup_seconds=args.startup),
        args.capacity,
        args.slo,
        args.min_replicas,
        args.max_replicas,
    )
    comparison = compare(trace, chosen)
    if args.chart:
        _draw(args.chart, comparison, _title(trace, chosen), chosen.slo_seconds)
    if args.json:
        print(json.dumps(_report(trace, comparison), indent=2))
    else:
        print(_table(trace, chosen, comparison))
    return 0


def _draw(path: Path, comparison: Comparison, title: str, slo_seconds: float) -> None:
    picture = chart.png(comparison, title, slo_seconds)
    try:
        write_atomically(path, picture)
    except OSError as error:
        raise OperatorError(f"cannot write the chart to {path}: {error.strerror}") from None


def _report(trace: Trace, comparison: Comparison) -> dict[str, object]:
    return {
        "trace": trace.name,
        "lower_bound_replica_seconds": comparison.lower_bound_replica_seconds,
        "policies": {name: asdict(result) for name, result in comparison.policies.items()},
        "series": {
            "arrivals": comparison.arrivals,
            "policies": {name: asdict(run) for name, run in comparison.timelines.items()},
        },
    }


COLUMNS = {
    "replica_seconds": "cost",
    "slo_violation_seconds": "slo-s",
    "p95_wait_seconds": "p95",
    "scale_changes": "changes",
    "max_replicas": "max",
}


def _title(trace: Trace, chosen: Scenario) -> str:
    model, policy = chosen.model, chosen.policy
    job_seconds = "from the trace" if trace.job_seconds else f"{chosen.default_job_seconds:g} s"
    return (
        f"{trace.name}: {len(trace.arrivals)} s, {sum(trace.arrivals)} jobs of {job_seconds}; "
        f"{model.concurrency} slots per replica, startup {model.startup_seconds} s, "
        f"SLO {chosen.slo_seconds:g} s, {policy.min_replicas}-{policy.max_replicas} replicas "
        f"of {chosen.service}"
    )


def _table(trace: Trace, chosen: Scenario, comparison: Comparison) -> str:
    title = _title(trace, chosen)
    legend = (
        "cost: replica-seconds; slo-s: seconds ending with a job waiting over the SLO; "
        "p95: wait for a slot (s); changes: scale changes; max: most replicas"
    )
    header = f"{'policy':<16}" + "".join(f"{short:>9}" for short in COLUMNS.values())
    rows = [
        f"{name:<16}" + "".join(f"{getattr(result, field):>9}" for field in COLUMNS)
        for name, result in comparison.policies.items()
    ]
    bound = f"{'lower bound':<16}{comparison.lower_bound_replica_seconds:>9}"
    return "\n".join([title, legend, "", header, *rows, bound])
