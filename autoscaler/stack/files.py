"""Writes the operator's files: what `init` renders, and the first upstream nginx starts with.

Talks to the disk only. Files that hold secrets are 0600 from their first byte on.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoscaler.actuators.upstream import render_upstream
from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.errors import BadInput
from autoscaler.files import PRIVATE, PUBLIC, write_atomically
from autoscaler.shipped import shipped_path
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.init import (
    Choices,
    Layout,
    Rewrite,
    check_ports,
    chosen_ports,
    chosen_project,
    chosen_secrets,
    config_rewrite,
    env_groups,
    env_rewrite,
)


@dataclass(frozen=True)
class Written:
    path: Path
    outcome: str
    """`wrote`, `rewrote` (the one before kept beside it, as `.bak`) or `unchanged`."""
    changes: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()


def new_secret() -> str:
    """256 random bits as hex: safe in URLs, .env files and command lines."""
    return secrets.token_hex(32)


def initialize(layout: Layout, choices: Choices, force: bool) -> list[Written]:
    """Writes `.env`, `config.toml` and `nginx.conf` into the layout's folder.

    Refuses to overwrite any of them unless `force`; even then every value in `.env` and
    `config.toml` is kept unless `choices` changes it (the secrets above all: the data made
    with them cannot be read with new ones), and a file that changes is kept as `NAME.bak`.
    """
    if layout.directory.exists() and not layout.directory.is_dir():
        raise BadInput(
            f"{layout.directory} is a file: init takes the folder to write the stack's files "
            "into (one that does not exist yet, or holds a stack)"
        )
    existing = [p for p in (layout.env_file, layout.config_file, layout.nginx_conf) if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise StackError(f"{names} already exist: add --force to rewrite them (keeps the secrets)")
    planned = _planned(layout, choices, _text(layout.env_file), _config_before(layout.config_file))
    with failing_as(f"init {layout.directory}"):
        try:
            return _write_all(layout, planned)
        except PermissionError:
            raise StackError(
                f"cannot write {layout.directory}: run as root, or give a folder of your own "
                "(`compose-flowise init DIR`)"
            ) from None


@dataclass(frozen=True)
class PlannedFiles:
    """The files a restore will write into the layout's folder, not written yet: each path, its
    new text and its mode."""

    layout: Layout
    files: tuple[tuple[Path, Rewrite, int], ...]

    def text(self, path: Path) -> str:
        return next(rewrite.text for planned, rewrite, _ in self.files if planned == path)


def plan_restored_files(layout: Layout, env_text: str, config_text: str) -> PlannedFiles:
    """A backup's `.env` and config as `init --force` would rewrite them in the layout's
    folder: every value kept but where the files are (the folder may differ from the
    backup's). Writes nothing: `write_restored_files` does, once every refusal is checked."""
    config_before = _config_before(Path("the backup's config.toml"), config_text)
    return PlannedFiles(layout, tuple(_planned(layout, Choices(), env_text, config_before)))


def write_restored_files(planned: PlannedFiles) -> list[Written]:
    """The planned files written; a file that changes is kept as `NAME.bak`."""
    with failing_as(f"restore into {planned.layout.directory}"):
        return _write_all(planned.layout, list(planned.files))


def _planned(
    layout: Layout, choices: Choices, env_before: str, config_before: dict[str, Any]
) -> list[tuple[Path, Rewrite, int]]:
    """Each file init writes, its new text and its mode, over the files there were."""
    kept = parse_env(env_before)
    chosen = chosen_secrets(kept, new_secret)
    ports = chosen_ports(choices, kept)
    check_ports(ports, config_before)
    project = chosen_project(choices, config_before)
    env = env_rewrite(env_groups(layout, ports, chosen), env_before, choices.flagged_keys())
    config = config_rewrite(layout, project, ports, chosen["REDIS_PASSWORD"], config_before)
    nginx = Rewrite(shipped_path("nginx/nginx.conf").read_text())
    return [
        (layout.env_file, env, PRIVATE),
        (layout.config_file, config, PRIVATE),
        (layout.nginx_conf, nginx, PUBLIC),
    ]


def _write_all(layout: Layout, planned: list[tuple[Path, Rewrite, int]]) -> list[Written]:
    layout.directory.mkdir(parents=True, exist_ok=True)
    written = [_write(path, rewrite, mode) for path, rewrite, mode in planned]
    layout.upstream_file.parent.mkdir(parents=True, exist_ok=True)
    return written


def _text(path: Path) -> str:
    with failing_as(f"read {path}"):
        return path.read_text() if path.exists() else ""


def _config_before(path: Path, text: str | None = None) -> dict[str, Any]:
    try:
        return tomllib.loads(_text(path) if text is None else text)
    except tomllib.TOMLDecodeError as error:
        raise BadInput(
            f"{path} is not valid TOML ({error}): fix it, or move it aside, "
            "so that init does not lose what it holds"
        ) from None


def _write(path: Path, rewrite: Rewrite, mode: int) -> Written:
    """`path` with the rewrite's text; the file before, when different, kept as `NAME.bak`."""
    if not path.exists():
        write_atomically(path, rewrite.text, mode)
        return Written(path, "wrote")
    before = path.read_bytes()
    if before == rewrite.text.encode():
        return Written(path, "unchanged", rewrite.changes, rewrite.kept)
    write_atomically(path.with_name(path.name + ".bak"), before, mode)
    write_atomically(path, rewrite.text, mode)
    return Written(path, "rewrote", rewrite.changes, rewrite.kept)


def ensure_upstream(settings: Settings) -> bool:
    """An upstream with no replica (nginx answers 503) where there is none yet, so that nginx
    can start before any replica is fit. True when it wrote one."""
    path = settings.nginx.upstream_file
    if path.exists():
        return False
    with failing_as("write the initial nginx upstream"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_upstream(settings.nginx.upstream_service, []))
    return True
