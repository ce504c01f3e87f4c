"""The command line: builds the parser from the commands, runs the one asked for, and turns its
errors into one line each on stderr and the error's exit status. Nothing else."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from autoscaler.commands import COMMANDS
from autoscaler.errors import EXIT_INTERRUPTED, OperatorError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()  # as `docker compose` alone: the help, on stdout, and success
        return 0
    try:
        code: int = args.run(args)
        return code
    except OperatorError as error:
        for message in error.messages():
            print(f"error: {message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint where it took a value starting with '-' for an option."""

    def error(self, message: str) -> NoReturn:
        if message.endswith(": expected one argument"):
            option = message.removeprefix("argument ").partition(":")[0].split("/")[-1]
            message += f" (a value that starts with '-' is written {option}=VALUE)"
        super().error(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="compose-flowise",
        description="Run Flowise scaled on Docker Compose, and keep it scaled.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser
