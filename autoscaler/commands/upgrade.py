"""`compose-flowise upgrade`: a rolling upgrade of the Flowise replicas to another image."""

from __future__ import annotations

import argparse

from autoscaler.commands.common import add_config_option, load_config


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument(
        "--image", metavar="REF",
        help="the Flowise image to run (default: the one .env names now, FLOWISE_IMAGE); "
        "pulled first when absent; .env names it once every replica runs it",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.set_defaults(run=_upgrade)


def _upgrade(args: argparse.Namespace) -> int:
    from autoscaler.stack import upgrade  # Docker's and Redis's clients: not for --help

    settings = load_config(args).settings
    if args.dry_run:
        for step in upgrade.dry_run(settings, args.image).steps():
            print(step)
        return 0
    upgraded = upgrade.upgrade(settings, args.image, print)
    print(f"upgraded to {upgraded.image}: {len(upgraded.replaced)} replicas replaced")
    return 0
