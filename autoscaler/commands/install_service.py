"""`compose-flowise install-service`: the systemd unit, and a commented config if none exists."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoscaler import config
from autoscaler.stack import service_unit


def configure(install: argparse.ArgumentParser) -> None:
    install.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                         help="the config the service runs with; written, commented, if absent "
                         f"(default: {config.SYSTEM_CONFIG})")  # fmt: skip
    install.add_argument("--prefix", type=Path, default=Path("/"), help="install below this root")
    install.add_argument("--force", action="store_true", help="overwrite an existing unit")
    install.set_defaults(run=_install_service, takes_config=True)


def _install_service(args: argparse.Namespace) -> int:
    config_file = service_unit.absolute(args.config or config.SYSTEM_CONFIG)
    existing = service_unit.below(args.prefix, config_file)
    settings = config.load(existing, {}).settings if existing.exists() else config.Settings()
    installed = service_unit.install(settings, config_file, args.prefix, args.force)
    print(f"wrote {installed.unit}")
    if installed.config_written:
        print(f"wrote {installed.config} (0600): review it, then")
    else:
        print(f"kept {installed.config}; then")
    print("  systemctl daemon-reload")
    print(f"  systemctl enable --now {service_unit.UNIT_NAME}")
    print("  journalctl -fu compose-flowise")
    return 0
