"""The stack's commands: `init`, `up`, `down`, `doctor`, `install-docker-plugin`. Parse, call,
print: the work happens in files.py, lifecycle.py, inspection.py and doctor.py."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from autoscaler import config
from autoscaler.cli_options import add_config_option, load_config
from autoscaler.stack import docker_plugin, lifecycle
from autoscaler.stack.doctor import diagnose
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.files import initialize
from autoscaler.stack.init import DEFAULT_DIRECTORY, Layout, Ports, layout_for
from autoscaler.stack.inspection import read_setup

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

Command = Callable[[argparse.Namespace], int]


def add_commands(commands: argparse._SubParsersAction) -> None:
    init = commands.add_parser(
        "init", help="write a new stack's .env (fresh secrets), nginx.conf and config file"
    )
    init.add_argument(
        "directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY, metavar="DIR",
        help=f"the stack's folder (default: {DEFAULT_DIRECTORY}, its state in "
        f"{config.STATE_DIR}; any other DIR keeps its state in DIR/state)",
    )  # fmt: skip
    init.add_argument("--force", action="store_true",
                      help="rewrite existing files; the secrets in DIR/.env are kept")
    init.add_argument("--project-name", type=_project_name, default="flowise",
                      help="the compose project name (default: %(default)s)")
    init.add_argument("--http-port", type=_port, default=Ports.http, help="the public port")
    init.add_argument("--redis-port", type=_port, default=Ports.redis,
                      help="Redis on 127.0.0.1, for the autoscaler")
    init.add_argument("--status-port", type=_port, default=Ports.stub_status,
                      help="nginx's stub_status on 127.0.0.1, for the autoscaler")  # fmt: skip
    init.set_defaults(run=_reporting(_init))

    up = commands.add_parser(
        "up", help="start the stack (init first if there is no config), wait until it serves"
    )
    add_config_option(up)
    up.set_defaults(run=_reporting(_up))

    down = commands.add_parser("down", help="stop and remove the stack's containers; keep data")
    add_config_option(down)
    down.add_argument("-v", "--volumes", action="store_true",
                      help="also delete the volumes: the database, the queues, the uploads")
    down.set_defaults(run=_reporting(_down))

    doctor = commands.add_parser(
        "doctor", help="find what is wrong with the stack, and say how to fix it"
    )
    add_config_option(doctor)
    doctor.set_defaults(run=_reporting(_doctor))

    plugin = commands.add_parser(
        "install-docker-plugin", help="make `docker flowise ...` run compose-flowise"
    )
    plugin.add_argument("--dir", type=Path, default=docker_plugin.default_directory(os.environ),
                        help="Docker's cli-plugins folder (default: %(default)s)")
    plugin.set_defaults(run=_reporting(_install_docker_plugin))


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


def _reporting(command: Command) -> Command:
    """Failures as one line on stderr and exit status 1, never a traceback."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except StackError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_FAILED
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run


def _init(args: argparse.Namespace) -> int:
    layout = layout_for(args.directory)
    ports = Ports(args.http_port, args.redis_port, args.status_port)
    initialize(layout, args.project_name, ports, args.force)
    _print_initialized(layout)
    return 0


def _print_initialized(layout: Layout) -> None:
    print(f"wrote {layout.env_file} (the secrets; private, 0600)")
    print(f"wrote {layout.config_file} (private, 0600)")
    print(f"wrote {layout.nginx_conf}")
    print(f"state (the nginx upstream, the autoscaler's state): {layout.state}")
    if layout.config_file == config.SYSTEM_CONFIG:
        print("next: compose-flowise up")
    else:
        print(f"next: compose-flowise up --config {layout.config_file}")
        print(f"  (or export {config.ENV_VAR}={layout.config_file} for every command)")


def _up(args: argparse.Namespace) -> int:
    settings = config.load(_initialized_config(args.config), os.environ).settings
    started = lifecycle.up(settings, print)
    replicas = ", ".join(f"{name}: {count}" for name, count in started.replicas.items())
    print(f"Flowise is up at {started.url} ({replicas})")
    print("to keep it scaled: compose-flowise install-service, or compose-flowise daemon")
    return 0


def _initialized_config(explicit: Path | None) -> Path:
    """The config file `up` uses: where config.py looks for it. Where none exists yet and it
    would be a folder's config.toml, `init` writes that folder first, with the defaults."""
    path = config.locate(explicit, os.environ) or config.SYSTEM_CONFIG
    if not path.exists() and path.name == config.SYSTEM_CONFIG.name:
        layout = layout_for(path.parent)
        print(f"no config at {path}: initializing {layout.directory}")
        initialize(layout, "flowise", Ports(), force=False)
        _print_initialized(layout)
    return path


def _down(args: argparse.Namespace) -> int:
    settings = load_config(args).settings
    lifecycle.down(settings, args.volumes)
    kept = "deleted the volumes" if args.volumes else "the data is kept in the volumes"
    print(f"stopped {settings.compose.project_name}: {kept}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    loaded = load_config(args)
    findings = diagnose(read_setup(loaded.settings))
    for finding in findings:
        print(f"{finding.check}: {finding.problem}\n    fix: {finding.fix}")
    project = loaded.settings.compose.project_name
    if findings:
        print(f"{len(findings)} problem(s) in {project} ({loaded.source})")
        return EXIT_FAILED
    print(f"no problem found in {project} ({loaded.source})")
    return 0


def _install_docker_plugin(args: argparse.Namespace) -> int:
    with failing_as(f"install the Docker CLI plugin into {args.dir}"):
        path = docker_plugin.install(args.dir)
    print(f"wrote {path}: `docker flowise ARGS` now runs `compose-flowise ARGS`")
    return 0
