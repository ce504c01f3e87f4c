"""`compose-flowise scale`: scale now and pin the count, or hand the service back to the daemon."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime

from autoscaler.commands.common import add_config_option, load_config
from autoscaler.runtime import manual


def configure(scale: argparse.ArgumentParser) -> None:
    add_config_option(scale)
    scale.add_argument(
        "targets", nargs="*", type=_target, metavar="[SERVICE=]N",
        help="the count to scale to and pin: N (of --service, or of the one scaled service), or "
        "SERVICE=N as `docker compose scale` takes it, several scaled in turn",
    )  # fmt: skip
    scale.add_argument("--auto", action="store_true", help="release the pin: the daemon decides")
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


Target = tuple[str | None, int]
"""A service (None: the one --service names, or the only one) and its count."""


def _target(text: str) -> Target:
    service, equals, count = text.rpartition("=")
    if not count.lstrip("-").isdigit() or (equals and not service):
        raise argparse.ArgumentTypeError(f"say N or SERVICE=N, not {text!r}")
    return (service or None, int(count))


def _scale(args: argparse.Namespace) -> int:
    _check_targets(args)
    settings = load_config(args).settings
    if args.auto:
        service = manual.pick_service(settings, args.service)
        released = manual.release(settings, service)
        was = f"released the pin at {released.replicas}" if released else "was not pinned"
        print(f"{service}: {was}; the daemon decides from its next tick")
        return 0
    targets = [
        (manual.pick_service(settings, named or args.service), replicas)
        for named, replicas in args.targets
    ]
    for service, replicas in targets:
        manual.check_count(settings, service, replicas, args.force)
    for service, replicas in targets:
        _pin(manual.pin(settings, service, replicas, args.duration, args.force))
    return 0


def _check_targets(args: argparse.Namespace) -> None:
    """What scale was asked, as one request: refused before anything is read or touched."""
    named = [service for service, _ in args.targets if service is not None]
    if args.auto and (args.targets or args.duration is not None):
        raise manual.ManualScaleError(
            "--auto releases the pin: it takes no count, and no --for (which pins for a time)"
        )
    if not args.auto and not args.targets:
        raise manual.ManualScaleError("say the count: N or SERVICE=N, or --auto to release a pin")
    if named and args.service:
        raise manual.ManualScaleError(f"--service {args.service} and {named[0]}=N: name it once")
    if len(args.targets) > len(named) > 0 or len(args.targets) - len(named) > 1:
        raise manual.ManualScaleError("several counts: give each as SERVICE=N")


def _pin(pinned: manual.Pinned) -> None:
    service, outcome = pinned.service, pinned.outcome
    until = _until(pinned.override.until) if pinned.override.until else "for good"
    print(f"{service}: {outcome.before} -> {outcome.after}, pinned {until}")
    if outcome.not_ready:
        print(f"warning: not healthy yet: {', '.join(outcome.not_ready)}", file=sys.stderr)
    if outcome.undrained:
        print(f"warning: {outcome.undrained} requests were still in flight at the drain timeout",
              file=sys.stderr)  # fmt: skip


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
