"""Command-line options several commands share: parse only."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from autoscaler import config


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
