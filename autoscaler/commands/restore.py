"""`compose-flowise restore BACKUP [DIR]`: a backup's .env and config into the stack folder
DIR, and its database into the stack's postgres (started alone); then `up` starts the rest."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoscaler.stack.init import DEFAULT_DIRECTORY


def configure(restore_command: argparse.ArgumentParser) -> None:
    restore_command.add_argument("backup", type=Path, metavar="BACKUP",
                                 help="the folder `compose-flowise backup` wrote")  # fmt: skip
    restore_command.add_argument(
        "directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY, metavar="DIR",
        help=f"the stack's folder (default: {DEFAULT_DIRECTORY}): a fresh one, or the backed-up "
        "stack's after `compose-flowise down --volumes`. Its .env and config.toml are "
        "replaced (the ones before kept as NAME.bak), and its database",
    )  # fmt: skip
    restore_command.add_argument(
        "--force",
        action="store_true",
        help="replace a database that holds tables, and a .env with other secrets",
    )
    restore_command.set_defaults(run=_restore)


def _restore(args: argparse.Namespace) -> int:
    from autoscaler.commands.init import print_initialized
    from autoscaler.stack.backup import restore
    from autoscaler.stack.init import layout_for

    layout = layout_for(args.directory)
    manifest, written = restore(args.backup.absolute(), layout, args.force, print)
    print_initialized(layout, written)
    print(f"restored the database of {manifest.project} as of {manifest.created}")
    print(f"  (backed up from {manifest.flowise_image}: run that Flowise or a newer one)")
    return 0
