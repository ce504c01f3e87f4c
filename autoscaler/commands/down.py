"""`compose-flowise down`: stop and remove the stack's containers (on Swarm: the stack); keep the
data unless asked."""

from __future__ import annotations

import argparse

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.stack import lifecycle, swarm


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
    project = settings.compose.project_name
    if settings.compose.backend == "swarm":
        removed = swarm.down(settings, args.volumes)
        print(f"removed the stack {project}: {_swarm_volumes(args.volumes, removed)}")
        return 0
    lifecycle.down(settings, args.volumes)
    kept = "deleted the volumes" if args.volumes else "the data is kept in the volumes"
    print(f"stopped {project}: {kept}")
    return 0


def _swarm_volumes(asked: bool, removed: list[str]) -> str:
    if not asked:
        return "the data is kept in the volumes"
    names = ", ".join(removed) or "none"
    return (
        f"deleted the volumes on this manager ({names}); a volume of the stack made on "
        "another node, by a service an override placed there, stays there: this engine sees "
        "only its own"
    )
