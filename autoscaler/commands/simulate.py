"""`compose-flowise simulate`: replay a load trace under our policy and the baselines. Parse,
call, print: the simulation itself is in autoscaler.simulation."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import TypeVar

from autoscaler.commands.common import Subcommands, add_config_option, load_config
from autoscaler.simulation.run import PolicyResult
from autoscaler.simulation.scenario import Scenario, compare, scenario
from autoscaler.simulation.service import ServiceModel
from autoscaler.simulation.trace import Trace, read_trace

Number = TypeVar("Number", int, float)

EPILOG = """\
service model:
  Each ready replica completes C jobs per second (--capacity). A replica asked for becomes
  ready S seconds later (--startup); a removed replica stops at once. Jobs no ready replica can
  take wait in FIFO order. A second violates the SLO when, at its end, the oldest waiting job
  has waited longer than --slo seconds. A job's wait runs from the second it arrived to the
  second it is served; jobs still waiting when the trace ends count what they waited so far.

policies, each starting from the min replica count:
  compose-flowise  the config's queue-scaled service (the first with a bullmq_queue signal,
                   on that signal alone), every daemon.interval_seconds: the same decide()
                   the daemon runs, fed the backlog, the jobs in service and the arrival count
  hpa              the Kubernetes HPA with its defaults (15 s sync, tolerance 0.1, 300 s
                   scale-down stabilization, up max(4 pods, 100 %) and down 100 % per 15 s),
                   fed by a KEDA Redis list scaler: backlog per replica, target 2 x C jobs
  oracle           the fewest replicas that keep up at every second, with no startup delay

compose-flowise is not told C: its config carries its own jobs_per_second_per_replica. The
HPA's target is set from C, and the oracle knows C and every arrival ahead.
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


_positive_float = _checked(float, lambda value: value > 0, "must be above 0")
_positive_int = _checked(int, lambda value: value > 0, "must be above 0")
_whole_number = _checked(int, lambda value: value >= 0, "must not be negative")


def register(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "simulate",
        help="replay a load trace: compose-flowise vs the Kubernetes HPA vs an oracle",
        description="Replay a load trace (CSV `second,arrivals`) through a service model "
        "under compose-flowise's policy, the Kubernetes HPA and an oracle, and score each.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--trace", type=Path, required=True, metavar="FILE", help="the trace")
    add_config_option(parser)
    parser.add_argument(
        "--capacity",
        type=_positive_float,
        default=5.0,
        metavar="C",
        help="jobs per second one ready replica completes (default: 5)",
    )
    parser.add_argument(
        "--startup",
        type=_whole_number,
        default=20,
        metavar="S",
        help="seconds from asking for a replica to its taking work (default: 20)",
    )
    parser.add_argument(
        "--slo",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="longest acceptable wait in the queue (default: 10)",
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
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    trace = read_trace(args.trace)
    chosen = scenario(
        load_config(args).settings,
        ServiceModel(capacity=args.capacity, startup_seconds=args.startup),
        args.slo,
        args.min_replicas,
        args.max_replicas,
    )
    results = compare(trace.arrivals, chosen)
    if args.json:
        policies = {name: asdict(result) for name, result in results.items()}
        print(json.dumps({"trace": trace.name, "policies": policies}, indent=2))
    else:
        print(_table(trace, chosen, results))
    return 0


def _table(trace: Trace, chosen: Scenario, results: dict[str, PolicyResult]) -> str:
    model, policy = chosen.model, chosen.policy
    title = (
        f"{trace.name}: {len(trace.arrivals)} s, {sum(trace.arrivals)} jobs; "
        f"capacity {model.capacity:g} jobs/s per replica, startup {model.startup_seconds} s, "
        f"SLO {chosen.slo_seconds:g} s, {policy.min_replicas}-{policy.max_replicas} replicas "
        f"of {chosen.service}"
    )
    columns = [f.name for f in fields(PolicyResult)]
    header = f"{'policy':<16}" + "".join(f"{c:>23}" for c in columns)
    rows = [
        f"{name:<16}" + "".join(f"{getattr(result, c):>23}" for c in columns)
        for name, result in results.items()
    ]
    return "\n".join([title, "", header, *rows])
