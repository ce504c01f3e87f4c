"""`compose-flowise completion bash|zsh`: the shell completion script, generated from the
parser by shtab (the `completion` extra)."""

from __future__ import annotations

import argparse

from autoscaler.commands.common import Subcommands
from autoscaler.errors import OperatorError

SHELLS = ("bash", "zsh")


def register(commands: Subcommands) -> None:
    completion = commands.add_parser("completion", help="print the shell completion script")
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL",
                            help=f"{' or '.join(SHELLS)}; in ~/.bashrc, e.g.: "
                            'eval "$(compose-flowise completion bash)"')  # fmt: skip
    completion.set_defaults(run=_completion)


def _completion(args: argparse.Namespace) -> int:
    try:
        import shtab  # the `completion` extra: only this command needs it
    except ImportError:
        raise OperatorError(
            "shell completion needs shtab: pip install 'compose-flowise[completion]'"
        ) from None
    print(shtab.complete(args.root_parser, shell=args.shell))
    return 0
