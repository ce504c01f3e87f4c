"""What several commands share: the --config option and loading the config it names."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TypeAlias

from autoscaler import config

Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""Where each command module registers its parser."""


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"config file (default: ${config.ENV_VAR}, then {config.SYSTEM_CONFIG}, "
        "then the embedded defaults)",
    )


def load_config(args: argparse.Namespace) -> config.LoadedConfig:
    """The config named by --config, else found the usual way."""
    return config.load(args.config, os.environ)
