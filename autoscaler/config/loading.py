"""Loading the config file: TOML, validated, with errors that name the file, the key, the value
and why. Reads one file (found by `locations.locate`); does nothing else.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autoscaler.config.settings import Settings, default_services
from autoscaler.config_snapshot import EMBEDDED_DEFAULTS, Snapshot, mask_url_password
from autoscaler.errors import BadInput
from autoscaler.locations import locate
from autoscaler.signals import KIND_NAMES


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file: where, which key, which value, and why."""

    source: str
    key: str
    message: str
    value: str | None = None

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        value = f" = {self.value}" if self.value is not None else ""
        return f"{where}{value}: {self.message}"


class ConfigError(BadInput):
    """A config file that cannot be used: nothing of it is applied."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    source: str
    """The file it came from, or `embedded defaults`."""


def load(explicit: Path | None, environ: Mapping[str, str]) -> LoadedConfig:
    path = locate(explicit, environ)
    return from_text(path, read(path))


def from_text(path: Path | None, text: str) -> LoadedConfig:
    """The config read from `path` (None: the embedded defaults, and `text` is empty)."""
    if path is None:
        return LoadedConfig(Settings(), EMBEDDED_DEFAULTS)
    return LoadedConfig(parse(text, str(path)), str(path))


def parse(text: str, source: str) -> Settings:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([Problem(source, "", f"TOML syntax error: {error}")]) from None
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        details = _most_specific(error.errors())
        raise ConfigError([_problem(source, detail) for detail in details]) from None


def read(path: Path | None) -> str:
    """The config file's text; empty for the embedded defaults."""
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        problem = Problem(str(path), "", f"cannot read the config file: {reason}")
        raise ConfigError([problem]) from None


def _most_specific(details: list[Any]) -> list[Any]:
    """Leave out an error about a table when an error inside that table explains it."""
    locs = [tuple(detail["loc"]) for detail in details]
    return [
        detail
        for detail, loc in zip(details, locs, strict=True)
        if not any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs)
    ]


def _problem(source: str, detail: Mapping[str, Any]) -> Problem:
    key = _dotted(detail["loc"])
    if detail["type"] == "extra_forbidden":
        return Problem(source, key, "unknown key")
    if detail["type"] == "missing":
        return Problem(source, key, "required key is missing")
    value = detail.get("input")
    shown = None if isinstance(value, Mapping) else _shown(key, value)
    message = detail["msg"].removeprefix("Value error, ")
    return Problem(source, key, message, shown)


def _dotted(loc: tuple[Any, ...]) -> str:
    """('services', 'flowise', 'signals', 0, 'bullmq_queue', 'queue')
    -> services.flowise.signals[0].queue"""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        elif part in KIND_NAMES and index > 0 and isinstance(loc[index - 1], int):
            continue  # pydantic names the union member it tried; the user never wrote that key
        else:
            parts.append(str(part))
    return ".".join(parts)


def _shown(key: str, value: Any) -> str:
    text = mask_url_password(value) if key == "redis.url" and isinstance(value, str) else value
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def snapshot(loaded: LoadedConfig) -> Snapshot:
    """The settings as JSON data, as `config show` and `status` read them."""
    data = loaded.settings.model_dump(mode="json", exclude_none=True)
    turned_off = tuple(name for name in default_services() if name not in data["services"])
    return Snapshot(loaded.source, data, turned_off)
