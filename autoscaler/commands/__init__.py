"""The commands: one module each (parse, call, print), listed here in the order `--help` shows
them, each with its one-line help. Adding a command is one module with `configure(parser)` and
one line below.

Only the module of the command that runs is imported (`configure`): `--help` and `--version`
start without the config's models, Docker or Redis clients.
"""

from __future__ import annotations

import argparse
from importlib import import_module
from typing import NamedTuple


class Command(NamedTuple):
    module: str
    help: str


COMMANDS = {
    "init": Command("init", "write a new stack's .env (fresh secrets), nginx.conf and config file"),
    "up": Command("up", "start the stack (init first if there is no config), wait until it serves"),
    "down": Command("down", "stop and remove the stack's containers; keep data"),
    "doctor": Command("doctor", "find what is wrong with the stack, and say how to fix it"),
    "status": Command("status", "replicas, metrics, what the daemon would do"),
    "scale": Command("scale", "scale now and pin the count, or hand it back"),
    "backup": Command("backup", "the database, .env and config into a private folder"),
    "restore": Command("restore", "a backup into a fresh stack folder or an emptied stack"),
    "upgrade": Command("upgrade", "move the Flowise replicas to another image, one at a time"),
    "daemon": Command("daemon", "run the autoscaler (systemd runs this)"),
    "config": Command("config", "check or show the config file"),
    "install-service": Command("install_service", "write the systemd unit and a config"),
    "install-docker-plugin": Command(
        "docker_plugin", "make `docker flowise ...` run compose-flowise"
    ),
    "simulate": Command(
        "simulate", "replay a load trace: compose-flowise vs KEDA, Knative's KPA and an oracle"
    ),
    "completion": Command("completion", "print the shell completion script"),
}


def configure(name: str, parser: argparse.ArgumentParser) -> None:
    """The command's options and what runs it, from its module."""
    import_module(f"autoscaler.commands.{COMMANDS[name].module}").configure(parser)
