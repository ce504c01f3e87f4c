"""`compose-flowise init`: a new stack's .env (fresh secrets), nginx.conf and config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoscaler import config
from autoscaler.stack.files import Written, initialize
from autoscaler.stack.init import (
    DEFAULT_DIRECTORY,
    DEFAULT_PROJECT,
    Choices,
    Layout,
    Ports,
    layout_for,
)


def configure(init: argparse.ArgumentParser) -> None:
    init.add_argument(
        "directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY, metavar="DIR",
        help=f"the stack's folder (default: {DEFAULT_DIRECTORY}, its state in "
        f"{config.STATE_DIR}; any other DIR keeps its state in DIR/state)",
    )  # fmt: skip
    init.add_argument(
        "--force",
        action="store_true",
        help="rewrite existing files, keeping every value set in them (the secrets above all) "
        "unless an option below changes it; a file that changes is kept as NAME.bak",
    )
    init.add_argument(
        "--project-name",
        type=_project_name,
        help=f"the compose project name (default: the one in DIR/config.toml, else "
        f"{DEFAULT_PROJECT})",
    )
    kept = "the one in DIR/.env, else"
    init.add_argument("--http-port", type=_port,
                      help=f"the public port (default: {kept} {Ports.http})")  # fmt: skip
    init.add_argument("--redis-port", type=_port, help="Redis on 127.0.0.1, for the autoscaler "
                      f"(default: {kept} {Ports.redis})")  # fmt: skip
    init.add_argument("--status-port", type=_port, help="nginx's stub_status on 127.0.0.1, for "
                      f"the autoscaler (default: {kept} {Ports.stub_status})")  # fmt: skip
    init.set_defaults(run=_init)


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, not {text!r}")
    return int(text)


def _project_name(text: str) -> str:
    try:
        return config.ComposeSettings(project_name=text).project_name
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"lower-case letters, digits, - and _, starting with a letter or digit; got {text}"
        ) from None


def _init(args: argparse.Namespace) -> int:
    layout = layout_for(args.directory)
    choices = Choices(args.project_name, args.http_port, args.redis_port, args.status_port)
    print_initialized(layout, initialize(layout, choices, args.force))
    return 0


_WHAT = {".env": " (the secrets; private, 0600)", "config.toml": " (private, 0600)"}


def print_initialized(layout: Layout, written: list[Written]) -> None:
    for file in written:
        backup = f"; the one before is {file.path.name}.bak" if file.outcome == "rewrote" else ""
        print(f"{file.outcome} {file.path}{_WHAT.get(file.path.name, '')}{backup}")
        if file.kept:
            print(f"  kept as you set them: {', '.join(file.kept)}")
        for change in file.changes:
            print(f"  changed {change}")
    print(f"state (the nginx upstream, the autoscaler's state): {layout.state}")
    if layout.config_file == config.SYSTEM_CONFIG:
        print("next: compose-flowise up")
    else:
        print(f"next: compose-flowise up --config {layout.config_file}")
        print(f"  (or export {config.ENV_VAR}={layout.config_file} for every command)")
