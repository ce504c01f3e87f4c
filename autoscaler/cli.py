"""The command line: parse, call, print. Nothing here decides or acts by itself."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

import tomli_w

from autoscaler import config, manual, service_install, status
from autoscaler.actuators.errors import ActuatorError
from autoscaler.cli_options import add_config_option, load_config
from autoscaler.daemon import DaemonError, run_daemon
from autoscaler.state import StateError
from autoscaler.simulation.command import add_command as add_simulate_command
from autoscaler.stack.commands import add_commands as add_stack_commands

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return args.run(args)
    except config.ConfigError as error:
        for problem in error.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except manual.ManualScaleError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (ActuatorError, DaemonError, StateError, service_install.InstallError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compose-flowise",
        description="Autoscale Flowise on Docker Compose, with nginx upstreams that follow.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_config_commands(commands)
    _add_daemon_command(commands)
    _add_scale_command(commands)
    _add_status_command(commands)
    _add_install_command(commands)
    add_simulate_command(commands)
    add_stack_commands(commands)
    return parser


def _add_config_commands(commands) -> None:
    config_command = commands.add_parser("config", help="check or show the config file")
    actions = config_command.add_subparsers(title="actions", metavar="ACTION")
    check = actions.add_parser("check", help="validate the config; exit 2 on a mistake")
    add_config_option(check)
    check.set_defaults(run=_config_check)
    show = actions.add_parser("show", help="print the effective config, secrets masked")
    add_config_option(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of TOML")
    show.set_defaults(run=_config_show)


def _add_daemon_command(commands) -> None:
    daemon = commands.add_parser("daemon", help="run the autoscaler (systemd runs this)")
    add_config_option(daemon)
    daemon.add_argument("--once", action="store_true", help="run one tick and exit")
    daemon.add_argument("--dry-run", action="store_true", help="decide and explain, change nothing")
    daemon.add_argument("--log-format", choices=["human", "json"], default="human")
    daemon.set_defaults(run=_daemon)


def _add_scale_command(commands) -> None:
    scale = commands.add_parser("scale", help="scale now and pin the count, or hand it back")
    add_config_option(scale)
    target = scale.add_mutually_exclusive_group(required=True)
    target.add_argument("replicas", nargs="?", type=int, help="the count to scale to and pin")
    target.add_argument("--auto", action="store_true", help="release the pin: the daemon decides")
    scale.add_argument("--service", help="the compose service (needed when several are scaled)")
    scale.add_argument("--for", dest="duration", type=_duration, metavar="DURATION",
                       help="pin for this long, e.g. 90s, 30m, 2h, 1h30m (default: for good)")
    scale.add_argument("--force", action="store_true", help="allow a count outside [min, max]")
    scale.set_defaults(run=_scale)


def _add_status_command(commands) -> None:
    status_command = commands.add_parser("status", help="replicas, metrics, what the daemon would do")
    add_config_option(status_command)
    status_command.add_argument("--json", action="store_true", help="print JSON")
    status_command.set_defaults(run=_status)


def _add_install_command(commands) -> None:
    install = commands.add_parser("install-service", help="write the systemd unit and a config")
    install.add_argument("--config", type=Path, default=config.SYSTEM_CONFIG, metavar="FILE",
                         help="the config the service runs with; written, commented, if absent "
                         f"(default: {config.SYSTEM_CONFIG})")
    install.add_argument("--prefix", type=Path, default=Path("/"), help="install below this root")
    install.add_argument("--force", action="store_true", help="overwrite an existing unit")
    install.set_defaults(run=_install_service)


def _config_check(args: argparse.Namespace) -> int:
    loaded = load_config(args)
    services = ", ".join(loaded.settings.services)
    print(f"{loaded.source}: valid (services: {services})")
    return 0


def _config_show(args: argparse.Namespace) -> int:
    loaded = load_config(args)
    view = config.public_view(loaded.settings)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print(f"# effective config from {loaded.source}")
        print(tomli_w.dumps(view), end="")
    return 0


def _daemon(args: argparse.Namespace) -> int:
    return run_daemon(args.config, os.environ, args.once, args.dry_run, args.log_format)


def _scale(args: argparse.Namespace) -> int:
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
    until = _when(pinned.override.until) if pinned.override.until else "for good"
    print(f"{service}: {outcome.before} -> {outcome.after}, pinned {until}")
    if outcome.not_ready:
        print(f"warning: not healthy yet: {', '.join(outcome.not_ready)}", file=sys.stderr)
    if outcome.undrained:
        print(f"warning: {outcome.undrained} requests were still in flight at the drain timeout",
              file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    report = status.gather(load_config(args).settings)
    print(json.dumps(report, indent=2) if args.json else status.render(report))
    return 0


def _install_service(args: argparse.Namespace) -> int:
    existing = args.prefix / args.config.relative_to(args.config.anchor)
    settings = config.load(existing, {}).settings if existing.exists() else config.Settings()
    installed = service_install.install(settings, args.config, args.prefix, args.force)
    print(f"wrote {installed.unit}")
    if installed.config_written:
        print(f"wrote {installed.config} (0600): review it, then")
    else:
        print(f"kept {installed.config}; then")
    print("  systemctl daemon-reload")
    print(f"  systemctl enable --now {service_install.UNIT_NAME}")
    print("  journalctl -fu compose-flowise")
    return 0


_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def _duration(text: str) -> float:
    """'90s', '30m', '2h', '1h30m' -> seconds."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (say 90s, 30m, 2h or 1h30m)")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total == 0:
        raise argparse.ArgumentTypeError(f"a pin must last longer than {text!r}")
    return float(total)


def _when(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return "until " + moment.isoformat(timespec="seconds")
