"""`compose-flowise completion bash|zsh`: the shell completion script, generated from the
parser by shtab (the `completion` extra)."""

from __future__ import annotations

import argparse

from autoscaler.errors import OperatorError

SHELLS = ("bash", "zsh")


def configure(completion: argparse.ArgumentParser) -> None:
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
    print(shtab.complete(args.full_parser(), shell=args.shell))
    return 0
