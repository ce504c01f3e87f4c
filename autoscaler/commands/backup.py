"""`compose-flowise backup [DIR]`: the database (pg_dump in the running postgres container), the
stack's .env and config, into a private folder."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.errors import BadInput


def configure(backup_command: argparse.ArgumentParser) -> None:
    backup_command.add_argument(
        "directory", nargs="?", type=Path, metavar="DIR",
        help="a new or empty folder (default: PROJECT-backup-TIME in this folder); made 0700, "
        "its files 0600: they hold every secret of the stack",
    )  # fmt: skip
    add_config_option(backup_command)
    backup_command.set_defaults(run=_backup)


def _backup(args: argparse.Namespace) -> int:
    from autoscaler.stack.backup import backup
    from autoscaler.stack.backup_plan import default_folder

    loaded = load_config(args)
    settings = loaded.settings
    config_file = Path(loaded.source)
    if not config_file.is_file():
        raise BadInput("backup needs the stack's config file (give --config FILE): "
                       f"{loaded.source} is not one")  # fmt: skip
    now = datetime.now(UTC)
    folder = (args.directory or default_folder(settings.compose.project_name, now)).absolute()
    manifest = backup(settings, config_file, folder, now)
    print(f"backed up {manifest.project} into {folder} (private: keep it so)")
    print("  the database (pg_dump), the stack's .env (its secrets) and config; not the")
    print("  uploads in S3 and not the queues in Redis: back the bucket up with its own tools")
    print(f"restore: compose-flowise restore {folder} [STACK_DIR]")
    return 0
