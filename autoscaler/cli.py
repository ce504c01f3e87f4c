"""The command line: builds the parser from the commands, runs the one asked for, and turns its
errors into one line each on stderr and the error's exit status. Nothing else."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from autoscaler.commands import COMMANDS, configure
from autoscaler.commands.common import CONFIG_HELP
from autoscaler.errors import EXIT_INTERRUPTED, OperatorError

PROG = "compose-flowise"
ALL = "*"
"""Every command, as `_parser` takes it: shell completion needs them all."""


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(sys.argv[1:] if argv is None else argv)
    except OperatorError as error:
        for message in error.messages():
            print(f"error: {message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:  # also while the command's module is still being imported
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(arguments: list[str]) -> int:
    parser = _parser(_command_in(arguments))
    args = parser.parse_args(arguments)
    if not hasattr(args, "run"):
        parser.print_help()  # as `docker compose` alone: the help, on stdout, and success
        return 0
    if args.config is not None and not getattr(args, "takes_config", False):
        parser.error(f"{args.command} takes no --config")
    code: int = args.run(args)
    return code


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint where it took a value starting with '-' for an option."""

    def error(self, message: str) -> NoReturn:
        if message.endswith(": expected one argument"):
            option = message.removeprefix("argument ").partition(":")[0].split("/")[-1]
            message += f" (a value that starts with '-' is written {option}=VALUE)"
        super().error(message)


class _Version(argparse.Action):
    """--version: the installed package's, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> NoReturn:
        from importlib.metadata import version  # only here: it takes a while to import

        print(f"{PROG} version {version('compose-flowise')}")
        parser.exit()


def _parser(command: str | None) -> argparse.ArgumentParser:
    """The whole command line; only `command`'s own options are read from its module, or every
    command's with ALL (for shell completion)."""
    parser = _Parser(
        prog=PROG,
        description="Run Flowise scaled on Docker Compose, and keep it scaled.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("--config", type=Path, metavar="FILE", help=CONFIG_HELP)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    for name, listed in COMMANDS.items():
        subparser = commands.add_parser(name, help=listed.help)
        if command in (name, ALL):
            configure(name, subparser)
    parser.set_defaults(full_parser=lambda: _parser(ALL))
    return parser


def _command_in(arguments: list[str]) -> str | None:
    """The command named on the command line: its first word that is no option of its own."""
    words = iter(arguments)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None
