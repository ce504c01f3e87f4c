"""`compose-flowise scale`: scale now and pin the count, or hand the service back to the daemon."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

from autoscaler.commands.common import Subcommands, add_config_option, load_config
from autoscaler.runtime import manual


def register(commands: Subcommands) -> None:
    scale = commands.add_parser("scale", help="scale now and pin the count, or hand it back")
    add_config_option(scale)
    target = scale.add_mutually_exclusive_group(required=True)
    target.add_argument("replicas", nargs="?", type=int, help="the count to scale to and pin")
    target.add_argument("--auto", action="store_true", help="release the pin: the daemon decides")
    scale.add_argument("--service", help="the compose service (needed when several are scaled)")
    scale.add_argument(
        "--for",
        dest="duration",
        type=duration,
        metavar="DURATION",
        help="pin for this long, e.g. 90s, 30m, 2h, 1h30m (default: for good)",
    )
    scale.add_argument("--force", action="store_true", help="allow a count outside [min, max]")
    scale.set_defaults(run=_scale)


def _scale(args: argparse.Namespace) -> int:
    if args.auto and args.duration is not None:
        raise manual.ManualScaleError("--for pins for a time: --auto releases the pin")
    settings = load_config(args).settings
    service = manual.pick_service(settings, args.service)
    if args.auto:
        released = manual.release(settings, service)
        was = f"released the pin at {released.replicas}" if released else "was not pinned"
        print(f"{service}: {was}; the daemon decides from its next tick")
        return 0
    if args.replicas < 0:
        raise manual.ManualScaleError(f"replicas must be 0 or more, not {args.replicas}")
    pinned = manual.pin(settings, service, args.replicas, args.duration, args.force)
    outcome = pinned.outcome
    until = _until(pinned.override.until) if pinned.override.until else "for good"
    print(f"{service}: {outcome.before} -> {outcome.after}, pinned {until}")
    if outcome.not_ready:
        print(f"warning: not healthy yet: {', '.join(outcome.not_ready)}", file=sys.stderr)
    if outcome.undrained:
        print(f"warning: {outcome.undrained} requests were still in flight at the drain timeout",
              file=sys.stderr)  # fmt: skip
    return 0


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
LONGEST_PIN_HOURS = 24 * 366
"""A pin for longer than a year is one for good: say so by leaving --for out."""


def duration(text: str) -> float:
    """'90s', '30m', '2h', '1h30m' -> seconds."""
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"a duration cannot be negative: {text!r}")
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 90s, 30m, 2h or 1h30m)")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total == 0:
        raise argparse.ArgumentTypeError(f"a pin must last longer than {text!r}")
    if total > LONGEST_PIN_HOURS * 3600:
        raise argparse.ArgumentTypeError(
            f"{text!r} is longer than {LONGEST_PIN_HOURS}h (a year): "
            "leave --for out to pin for good"
        )
    return float(total)


def _until(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return "until " + moment.isoformat(timespec="seconds")
