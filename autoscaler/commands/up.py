"""`compose-flowise up`: start the stack (init first if there is no config), wait until it
serves."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autoscaler import config
from autoscaler.commands.common import add_config_option
from autoscaler.commands.init import print_initialized
from autoscaler.stack import lifecycle, swarm
from autoscaler.stack.files import initialize
from autoscaler.stack.init import Choices, layout_for


def configure(up: argparse.ArgumentParser) -> None:
    add_config_option(up)
    up.set_defaults(run=_up)


def _up(args: argparse.Namespace) -> int:
    path = _initialized_config(args.config)
    print(f"using {path}", file=sys.stderr)
    settings = config.load(path, os.environ).settings
    deploys = swarm if settings.compose.backend == "swarm" else lifecycle
    started = deploys.up(settings, print)
    replicas = ", ".join(f"{name}: {count}" for name, count in started.replicas.items())
    print(f"Flowise is up at {started.url} ({replicas})")
    print("to keep it scaled: compose-flowise install-service, or compose-flowise daemon")
    return 0


def _initialized_config(explicit: Path | None) -> Path:
    """The config file `up` uses: where the config is looked for. Where none exists yet and it
    would be a folder's config.toml, `init` writes that folder first, with the defaults."""
    path = config.locate(explicit, os.environ) or config.SYSTEM_CONFIG
    if not path.exists() and path.name == config.SYSTEM_CONFIG.name:
        layout = layout_for(path.parent)
        print(f"no config at {path}: initializing {layout.directory}")
        print_initialized(layout, initialize(layout, Choices(), force=False))
    return path
