"""`compose-flowise init`: a new stack's .env (fresh secrets), nginx.conf and config file."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoscaler import config
from autoscaler.commands.common import Subcommands
from autoscaler.stack.files import initialize
from autoscaler.stack.init import DEFAULT_DIRECTORY, Layout, Ports, layout_for


def register(commands: Subcommands) -> None:
    init = commands.add_parser(
        "init", help="write a new stack's .env (fresh secrets), nginx.conf and config file"
    )
    init.add_argument(
        "directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY, metavar="DIR",
        help=f"the stack's folder (default: {DEFAULT_DIRECTORY}, its state in "
        f"{config.STATE_DIR}; any other DIR keeps its state in DIR/state)",
    )  # fmt: skip
    init.add_argument(
        "--force",
        action="store_true",
        help="rewrite existing files; the secrets in DIR/.env are kept",
    )
    init.add_argument(
        "--project-name",
        type=_project_name,
        default="flowise",
        help="the compose project name (default: %(default)s)",
    )
    init.add_argument("--http-port", type=_port, default=Ports.http, help="the public port")
    init.add_argument(
        "--redis-port",
        type=_port,
        default=Ports.redis,
        help="Redis on 127.0.0.1, for the autoscaler",
    )
    init.add_argument("--status-port", type=_port, default=Ports.stub_status,
                      help="nginx's stub_status on 127.0.0.1, for the autoscaler")  # fmt: skip
    init.set_defaults(run=_init)


def _port(text: str) -> int:
    port = int(text)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1 to 65535, got {text}")
    return port


def _project_name(text: str) -> str:
    try:
        return config.ComposeSettings(project_name=text).project_name
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"lower-case letters, digits, - and _, starting with a letter or digit; got {text}"
        ) from None


def _init(args: argparse.Namespace) -> int:
    layout = layout_for(args.directory)
    ports = Ports(args.http_port, args.redis_port, args.status_port)
    initialize(layout, args.project_name, ports, args.force)
    print_initialized(layout)
    return 0


def print_initialized(layout: Layout) -> None:
    print(f"wrote {layout.env_file} (the secrets; private, 0600)")
    print(f"wrote {layout.config_file} (private, 0600)")
    print(f"wrote {layout.nginx_conf}")
    print(f"state (the nginx upstream, the autoscaler's state): {layout.state}")
    if layout.config_file == config.SYSTEM_CONFIG:
        print("next: compose-flowise up")
    else:
        print(f"next: compose-flowise up --config {layout.config_file}")
        print(f"  (or export {config.ENV_VAR}={layout.config_file} for every command)")
