"""What several commands share: the --config option and loading the config it names."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TypeAlias

from autoscaler import config

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where each command module registers its parser."""


CONFIG_HELP = (
    f"config file (default: ${config.ENV_VAR}, then ./{config.FOLDER_CONFIG}, then "
    f"{config.SYSTEM_CONFIG}, then the embedded defaults)"
)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """--config after the command. The one before it (cli) is kept when none is given after."""
    parser.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP,
                        default=argparse.SUPPRESS)  # fmt: skip
    parser.set_defaults(takes_config=True)


def load_config(args: argparse.Namespace) -> config.LoadedConfig:
    """The config named by --config, else found the usual way. Says which, on stderr."""
    loaded = config.load(args.config, os.environ)
    print(f"using {loaded.source}", file=sys.stderr)
    return loaded
