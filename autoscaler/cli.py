"""The command line: parse, call, print. Nothing here decides or acts by itself."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import tomli_w

from autoscaler import config

EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.run(args)
    except config.ConfigError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compose-flowise",
        description="Autoscale Flowise on Docker Compose, with nginx upstreams that follow.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    config_command = commands.add_parser("config", help="check or show the config file")
    config_actions = config_command.add_subparsers(title="actions", metavar="ACTION")
    check = config_actions.add_parser("check", help="validate the config; exit 2 on a mistake")
    _add_config_option(check)
    check.set_defaults(run=_config_check)
    show = config_actions.add_parser("show", help="print the effective config, secrets masked")
    _add_config_option(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(run=_config_show)
    return parser


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"config file (default: ${config.ENV_VAR}, then {config.SYSTEM_CONFIG}, "
        "then the embedded defaults)",
    )


def _load(args: argparse.Namespace) -> config.LoadedConfig:
    return config.load(args.config, os.environ)


def _config_check(args: argparse.Namespace) -> int:
    loaded = _load(args)
    services = ", ".join(loaded.settings.services)
    print(f"{loaded.source}: valid (services: {services})")
    return 0


def _config_show(args: argparse.Namespace) -> int:
    loaded = _load(args)
    view = config.public_view(loaded.settings)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print(f"# effective config from {loaded.source}")
        print(tomli_w.dumps(view), end="")
    return 0
