"""`compose-flowise config check|show`: validate the config file, or print the effective one."""

from __future__ import annotations

import argparse
import json

import tomli_w

from autoscaler.commands.common import add_config_option, config_data, load_config
from autoscaler.config_snapshot import public_data


def configure(config_command: argparse.ArgumentParser) -> None:
    actions = config_command.add_subparsers(title="actions", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate the config; exit 2 on a mistake")
    add_config_option(check)
    check.set_defaults(run=_check)
    show = actions.add_parser("show", help="print the effective config, secrets masked")
    add_config_option(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(run=_show)


def _check(args: argparse.Namespace) -> int:
    loaded = load_config(args)
    services = ", ".join(loaded.settings.services)
    print(f"{loaded.source}: valid (services: {services})")
    return 0


def _show(args: argparse.Namespace) -> int:
    snapshot = config_data(args)
    data = public_data(snapshot.data)
    # written back into a config file, a turned-off default must stay off
    view = {**data, "services": {**dict.fromkeys(snapshot.turned_off, False), **data["services"]}}
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print(f"# effective config from {snapshot.source}")
        print(tomli_w.dumps(view), end="")
    return 0
