"""Writes the operator's files: what `init` renders, and the first upstream nginx starts with.

Talks to the disk only. Files that hold secrets are 0600 from their first byte on.
"""

from __future__ import annotations

import secrets
import shutil

from autoscaler.actuators.upstream import render_upstream
from autoscaler.config import Settings
from autoscaler.envfile import parse_env
from autoscaler.files import PRIVATE, write_atomically
from autoscaler.shipped import shipped_path
from autoscaler.stack.errors import StackError, failing_as
from autoscaler.stack.init import (
    Layout,
    Ports,
    chosen_secrets,
    env_groups,
    render_config,
    render_env_file,
)


def new_secret() -> str:
    """256 random bits as hex: safe in URLs, .env files and command lines."""
    return secrets.token_hex(32)


def initialize(layout: Layout, project: str, ports: Ports, force: bool) -> None:
    """Writes `.env`, `config.toml` and `nginx.conf` into the layout's folder.

    Refuses to overwrite any of them unless `force`; even then the secrets already in `.env`
    are kept, since the data made with them cannot be read with new ones.
    """
    existing = [p for p in (layout.env_file, layout.config_file, layout.nginx_conf) if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise StackError(f"{names} already exist: add --force to rewrite them (keeps the secrets)")
    with failing_as(f"init {layout.directory}"):
        try:
            _write_stack_files(layout, project, ports)
        except PermissionError:
            raise StackError(
                f"cannot write {layout.directory}: run as root, or give a folder of your own "
                "(`compose-flowise init DIR`)"
            ) from None


def _write_stack_files(layout: Layout, project: str, ports: Ports) -> None:
    kept = parse_env(layout.env_file.read_text()) if layout.env_file.exists() else {}
    chosen = chosen_secrets(kept, new_secret)
    layout.directory.mkdir(parents=True, exist_ok=True)
    write_atomically(layout.env_file, render_env_file(env_groups(layout, ports, chosen)), PRIVATE)
    config = render_config(layout, project, ports, chosen["REDIS_PASSWORD"])
    write_atomically(layout.config_file, config, PRIVATE)
    shutil.copyfile(shipped_path("nginx/nginx.conf"), layout.nginx_conf)
    layout.upstream_file.parent.mkdir(parents=True, exist_ok=True)


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
