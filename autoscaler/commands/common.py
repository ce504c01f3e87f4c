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

from autoscaler.locations import ENV_VAR, FOLDER_CONFIG, SYSTEM_CONFIG

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
