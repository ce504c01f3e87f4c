"""`compose-flowise daemon`: run the autoscaler (systemd runs this), or one tick of it."""

from __future__ import annotations

import argparse
import os

from autoscaler.commands.common import add_config_option
from autoscaler.runtime.daemon import run_daemon


def configure(daemon: argparse.ArgumentParser) -> None:
    add_config_option(daemon)
    daemon.add_argument(
        "--once",
        action="store_true",
        help="run one tick and exit (1 when it failed: Docker unreachable, an action failed)",
    )
    daemon.add_argument("--dry-run", action="store_true", help="decide and explain, change nothing")
    daemon.add_argument("--log-format", choices=["human", "json"], default="human")
    daemon.set_defaults(run=_daemon)


def _daemon(args: argparse.Namespace) -> int:
    return run_daemon(args.config, dict(os.environ), args.once, args.dry_run, args.log_format)
