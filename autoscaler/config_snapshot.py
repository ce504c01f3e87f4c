"""The config as plain data, remembered once it was validated, so that a command that only reads
it (`config show`, `status`) starts without the config's models: importing pydantic and building
them is most of such a command's start-up.

A snapshot is the validated settings (`Settings.model_dump`), kept in the user's cache folder
(private, as the config file holds a Redis password), one file per config file. It is used
only while its key matches: the config file's text and the package's own code (every module's
size and time). Any change to either and the config is validated again in full: a config that
fails validation never has a snapshot, and is never applied. Reads and writes the disk only.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoscaler.files import PRIVATE, write_atomically

EMBEDDED_DEFAULTS = "embedded defaults"
"""The source of the settings when no config file is found."""
_PACKAGE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Snapshot:
    source: str
    """The config file, or EMBEDDED_DEFAULTS."""
    data: dict[str, Any]
    """The validated settings as JSON data, unset (None) values left out."""
    turned_off: tuple[str, ...] = ()
    """The default services the config turned off (`flowise-worker = false`)."""


def recall(config_file: Path | None) -> Snapshot | None:
    """The snapshot of `config_file` (None: the embedded defaults), if it is still valid."""
    try:
        text = "" if config_file is None else config_file.read_text(encoding="utf-8")
        saved = json.loads(_snapshot_file(config_file).read_bytes())
    except (OSError, UnicodeDecodeError, ValueError, RuntimeError):
        return None  # none yet, or unusable: the caller validates the config in full
    if not isinstance(saved, dict) or saved.get("key") != _key(text):
        return None
    return Snapshot(saved["source"], saved["data"], tuple(saved["turned_off"]))


def remember(config_file: Path | None, text: str, snapshot: Snapshot) -> None:
    """Keep `snapshot` of the config just validated from `text`, read from `config_file`. A
    cache folder that cannot be written only means that the next command validates again."""
    saved = {
        "key": _key(text),
        "source": snapshot.source,
        "data": snapshot.data,
        "turned_off": snapshot.turned_off,
    }
    try:
        write_atomically(_snapshot_file(config_file), json.dumps(saved), PRIVATE)
    except (OSError, RuntimeError):
        return


def public_data(data: dict[str, Any]) -> dict[str, Any]:
    """The settings' data with every secret masked: safe to print or log."""
    redis = data["redis"]
    return {**data, "redis": {**redis, "url": mask_url_password(redis["url"])}}


def mask_url_password(url: str) -> str:
    """redis://user:secret@host:6379/0 -> redis://user:***@host:6379/0"""
    scheme, separator, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def _snapshot_file(config_file: Path | None) -> Path:
    """One file per config file; RuntimeError when there is no home to keep it in."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    name = EMBEDDED_DEFAULTS if config_file is None else str(config_file.absolute())
    return cache / "compose-flowise" / f"config-{_digest(name.encode())[:16]}.json"


def _key(text: str) -> str:
    """The config's text and the code that validated it: a changed default, model or
    validator in an upgrade makes the snapshot stale as surely as an edited file."""
    modules = sorted(
        f"{path} {path.stat().st_size} {path.stat().st_mtime_ns}" for path in _PACKAGE.rglob("*.py")
    )
    return _digest("\n".join([text, *modules]).encode())


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
