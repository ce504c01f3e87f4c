"""What several commands share: the --config option and loading the config it names.

Light to import, as every module of a command is: the heavy ones (the config's models, Docker
and Redis clients) are imported only by the command that runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from autoscaler import config_snapshot
from autoscaler.config_snapshot import Snapshot
from autoscaler.locations import ENV_VAR, FOLDER_CONFIG, SYSTEM_CONFIG, locate

if TYPE_CHECKING:
    from autoscaler.config import LoadedConfig

CONFIG_HELP = (
    f"config file (default: ${ENV_VAR}, then ./{FOLDER_CONFIG}, then {SYSTEM_CONFIG}, "
    "then the embedded defaults)"
)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config after the command. The one before it (cli) is kept when none is given after."""
    parser.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP,
                        default=argparse.SUPPRESS)  # fmt: skip
    parser.set_defaults(takes_config=True)


def load_config(args: argparse.Namespace) -> LoadedConfig:
    """The config named by --config, else found the usual way. Says which, on stderr."""
    from autoscaler import config

    loaded = config.load(args.config, os.environ)
    print(f"using {loaded.source}", file=sys.stderr)
    return loaded


def config_data(args: argparse.Namespace) -> Snapshot:
    """The config as plain data, for the commands that only read it: from its snapshot while
    the file and the code are unchanged, else loaded and validated in full (and remembered).
    Says which file, on stderr."""
    path = locate(args.config, os.environ)
    snapshot = config_snapshot.recall(path)
    if snapshot is None:
        from autoscaler import config

        text = config.read(path)
        snapshot = config.snapshot(config.from_text(path, text))
        config_snapshot.remember(path, text, snapshot)
    print(f"using {snapshot.source}", file=sys.stderr)
    return snapshot
