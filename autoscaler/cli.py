"""The command line: builds the parser from the commands, runs the one asked for, and turns its
errors into one line each on stderr and the error's exit status. Nothing else."""

from __future__ import annotations

import argparse
import sys

from autoscaler.commands import COMMANDS
from autoscaler.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, OperatorError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_BAD_INPUT
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compose-flowise",
        description="Run Flowise scaled on Docker Compose, and keep it scaled.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser
