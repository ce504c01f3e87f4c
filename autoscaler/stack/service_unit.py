"""The systemd unit `install-service` writes, and a commented config if none exists.

Writes files under a prefix (/ by default); refuses to overwrite without `force`.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from autoscaler.config import Settings, service_timing
from autoscaler.config.commented import commented_config
from autoscaler.errors import OperatorError
from autoscaler.files import PRIVATE, write_atomically
from autoscaler.shipped import shipped_path

UNIT_NAME = "compose-flowise.service"


class InstallError(OperatorError):
    pass


@dataclass(frozen=True)
class Installed:
    unit: Path
    config: Path
    config_written: bool


def render_unit(template: str, executable: str, config: Path, settings: Settings) -> str:
    return (
        template.replace("@EXECUTABLE@", executable)
        .replace("@CONFIG@", str(config))
        .replace("@WRITABLE_PATHS@", " ".join(str(p) for p in writable_paths(settings)))
        .replace("@WATCHDOG_SECONDS@", str(service_timing.watchdog_seconds(settings)))
        .replace("@STOP_SECONDS@", str(service_timing.stop_seconds(settings)))
    )


def writable_paths(settings: Settings) -> list[Path]:
    """The folders the daemon writes: its state and the upstream file's, none twice."""
    folders = sorted({settings.daemon.state_file.parent, settings.nginx.upstream_file.parent})
    return [f for f in folders if not any(f != o and f.is_relative_to(o) for o in folders)]


def install(settings: Settings, config: Path, prefix: Path, force: bool) -> Installed:
    unit = prefix / "etc/systemd/system" / UNIT_NAME
    try:
        return _install(settings, unit, config, prefix, force)
    except OSError as error:
        raise InstallError(
            f"cannot write below {prefix}: {error.filename or prefix}: {error.strerror}; "
            "run as root, or choose a writable --prefix"
        ) from None


def _install(settings: Settings, unit: Path, config: Path, prefix: Path, force: bool) -> Installed:
    if unit.exists() and not force:
        raise InstallError(f"{unit} exists; add --force to overwrite it")
    template = shipped_path(f"systemd/{UNIT_NAME}").read_text()
    text = render_unit(template, _executable(), config, settings)
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(text)
    for folder in writable_paths(settings):  # systemd refuses to start with one missing
        (prefix / folder.relative_to(folder.anchor)).mkdir(parents=True, exist_ok=True)
    config_file = below(prefix, config)
    config_written = not config_file.exists()
    if config_written:
        write_atomically(config_file, commented_config(settings), PRIVATE)  # holds secrets
    return Installed(unit, config_file, config_written)


def absolute(path: Path) -> Path:
    """`path` from the current folder, `..` resolved: systemd runs ExecStart from /."""
    return Path(os.path.abspath(path))


def below(prefix: Path, path: Path) -> Path:
    """Where the absolute `path` lies when installing below `prefix`."""
    return prefix / path.relative_to(path.anchor)


def _executable() -> str:
    """The compose-flowise command of this installation, as systemd must run it."""
    beside_python = Path(sys.executable).with_name("compose-flowise")
    if beside_python.exists():
        return str(beside_python.absolute())
    found = shutil.which("compose-flowise")
    if found is None:
        raise InstallError("the compose-flowise command is not installed: pip install it first")
    return str(Path(found).absolute())
