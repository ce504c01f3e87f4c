"""`compose-flowise install-docker-plugin`: make `docker flowise ...` run compose-flowise."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from autoscaler.stack import docker_plugin
from autoscaler.stack.errors import failing_as


def configure(plugin: argparse.ArgumentParser) -> None:
    plugin.add_argument("--dir", type=Path, default=docker_plugin.default_directory(os.environ),
                        help="Docker's cli-plugins folder (default: %(default)s)")  # fmt: skip
    plugin.set_defaults(run=_install)


def _install(args: argparse.Namespace) -> int:
    with failing_as(f"install the Docker CLI plugin into {args.dir}"):
        path = docker_plugin.install(args.dir)
    print(f"wrote {path}: `docker flowise ARGS` now runs `compose-flowise ARGS`")
    return 0
