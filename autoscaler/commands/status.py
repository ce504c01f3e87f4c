"""`compose-flowise status`: what is down (exit 1 then), replicas, metrics, what the daemon would
do and why."""

from __future__ import annotations

import argparse
import json

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.runtime import status


def configure(status_command: argparse.ArgumentParser) -> None:
    add_config_option(status_command)
    status_command.add_argument("--json", action="store_true", help="print JSON")
    status_command.set_defaults(run=_status)


def _status(args: argparse.Namespace) -> int:
    report = status.gather(load_config(args).settings)
    print(json.dumps(report, indent=2) if args.json else status.render(report))
    return status.exit_code(report)
