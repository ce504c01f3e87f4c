"""`compose-flowise down`: stop and remove the stack's containers; keep the data unless asked."""

from __future__ import annotations

import argparse

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.stack import lifecycle


def configure(down: argparse.ArgumentParser) -> None:
    add_config_option(down)
    down.add_argument(
        "-v",
        "--volumes",
        action="store_true",
        help="also delete the volumes: the database, the queues, the uploads",
    )
    down.set_defaults(run=_down)


def _down(args: argparse.Namespace) -> int:
    settings = load_config(args).settings
    lifecycle.down(settings, args.volumes)
    kept = "deleted the volumes" if args.volumes else "the data is kept in the volumes"
    print(f"stopped {settings.compose.project_name}: {kept}")
    return 0
