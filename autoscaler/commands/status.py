"""`compose-flowise status`: what is down (exit 1 then), replicas, metrics, what the daemon would
do and why. From the daemon's fresh tick it reads the config's snapshot, the state file and the
lease, and imports nothing heavy; else it observes and decides once itself."""

from __future__ import annotations

import argparse
import json
import os
import time

from autoscaler.commands.common import add_config_option, config_data
from autoscaler.runtime import status_report


def configure(status_command: argparse.ArgumentParser) -> None:
    add_config_option(status_command)
    status_command.add_argument("--json", action="store_true", help="print JSON")
    status_command.set_defaults(run=_status)


def _status(args: argparse.Namespace) -> int:
    report = status_report.from_fresh_tick(config_data(args).data, time.time())
    if report is None:
        from autoscaler import config
        from autoscaler.runtime import status

        report = status.gather(config.load(args.config, os.environ).settings)
    print(json.dumps(report, indent=2) if args.json else status_report.render(report))
    return status_report.exit_code(report)
