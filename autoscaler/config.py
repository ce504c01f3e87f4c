"""The config file: pydantic models of every setting, and loading with precise errors.

Reads one TOML file; does nothing else. Lookup order: --config FILE, then
$COMPOSE_FLOWISE_CONFIG, then /etc/compose-flowise/config.toml, then the embedded defaults.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, RedisDsn, ValidationError
from pydantic import model_validator

from autoscaler.policy.parameters import (
    Behavior,
    DirectionRules,
    InFlightSignal,
    QueueSignal,
    RequestRateSignal,
    ServicePolicy,
    StepPolicy,
)
from autoscaler.shipped import SHIPPED

ENV_VAR = "COMPOSE_FLOWISE_CONFIG"
SYSTEM_CONFIG = Path("/etc/compose-flowise/config.toml")
STATE_DIR = Path("/var/lib/compose-flowise")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComposeSettings(Section):
    """The Docker Compose project that runs Flowise."""

    project_name: str = Field(
        default="flowise",
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="The compose project name (`docker compose -p`).",
    )
    directory: Path = Field(
        default=SYSTEM_CONFIG.parent,
        description="The project directory: it holds the `.env` and the `nginx.conf` that "
        "`compose-flowise init` writes.",
    )
    files: tuple[Path, ...] = Field(
        default=(SHIPPED / "compose" / "compose.yaml",),
        description="The compose files, later ones overriding earlier ones, relative to "
        "`directory`; default: the compose file shipped with compose-flowise. To change it, "
        "list it and your override.",
    )
    env_file: Path | None = Field(
        default=None,
        description="The env file compose interpolates from; default: `.env` in `directory`.",
    )
    ready_timeout_seconds: float = Field(
        default=180,
        gt=0,
        le=3600,
        description="On scale-out, how long to wait for new replicas to become healthy (a "
        "Flowise main needs about 20 s, longer on its first start).",
    )


class RedisSettings(Section):
    """Where Flowise's BullMQ queues live."""

    url: RedisDsn = Field(
        default=RedisDsn("redis://127.0.0.1:6379/0"),
        description="redis:// or rediss:// (TLS) URL with password and database, e.g. "
        "redis://:PASSWORD@127.0.0.1:6379/0. Masked in every output.",
    )
    key_prefix: str = Field(
        default="bull", min_length=1, description="BullMQ's key prefix (Flowise uses `bull`)."
    )
    timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Connect and read timeout for each Redis call."
    )


class NginxSettings(Section):
    """The nginx in front of the Flowise mains: its metrics and its generated upstream."""

    stub_status_url: HttpUrl = Field(
        default=HttpUrl("http://127.0.0.1:8081/nginx_status"),
        description="nginx stub_status page, published on 127.0.0.1 only.",
    )
    timeout_seconds: float = Field(
        default=2.0, gt=0, le=60, description="Timeout for reading stub_status."
    )
    service: str = Field(default="nginx", min_length=1, description="The nginx compose service.")
    upstream_service: str = Field(
        default="flowise",
        min_length=1,
        description="The compose service whose replicas make up the upstream.",
    )
    upstream_port: int = Field(
        default=3000, ge=1, le=65535, description="The port the upstream replicas listen on."
    )
    upstream_file: Path = Field(
        default=STATE_DIR / "nginx" / "flowise.conf",
        description="The generated upstream file. Its DIRECTORY is bind-mounted into nginx, so "
        "an atomic rename shows through.",
    )
    drain_timeout_seconds: float = Field(
        default=60,
        ge=0,
        le=3600,
        description="On scale-in, how long to wait for in-flight requests on a replica that "
        "left the upstream before it is stopped.",
    )


class DaemonSettings(Section):
    """The scheduled loop."""

    interval_seconds: float = Field(
        default=10, ge=1, le=3600, description="Seconds between two ticks."
    )
    state_file: Path = Field(
        default=STATE_DIR / "state.json",
        description="Where the daemon keeps its history and manual overrides across restarts.",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Prometheus metrics on 127.0.0.1 at this port; 0 turns them off.",
    )


def default_services() -> dict[str, ServicePolicy]:
    """Flowise in queue mode: mains hold requests open, workers run the jobs."""
    return {
        "flowise": ServicePolicy(
            min_replicas=2,
            max_replicas=6,
            signals=(
                InFlightSignal(target_per_replica=50),
                RequestRateSignal(target_per_replica=20),
            ),
        ),
        "flowise-worker": ServicePolicy(
            min_replicas=1,
            max_replicas=8,
            signals=(QueueSignal(jobs_per_second_per_replica=1.0),),
            behavior=_queue_worker_behavior(),
        ),
    }


def _queue_worker_behavior() -> Behavior:
    """Workers only pull jobs, so adding some is safe: up to 4x or 4 more per 10 s (one default
    tick; the HPA's 2x per 15 s follows its own sync), and a surge reaches max replicas in a tick
    or two. A queue absorbs a small excess for a while, and the backlog term catches up: a
    worker is added for 25 % more than the target, not 10 %, which saves a change per step of a
    rising load. The queue signal already averages arrivals over a minute: one more minute of
    stabilization, and a minute after any change before a removal, release idle workers within
    about two minutes instead of the HPA's five."""
    return Behavior(
        scale_up=DirectionRules(
            tolerance=0.25,
            stabilization_window_seconds=0,
            policies=(
                StepPolicy(type="pods", value=4, period_seconds=10),
                StepPolicy(type="percent", value=300, period_seconds=10),
            ),
        ),
        scale_down=DirectionRules(
            stabilization_window_seconds=60,
            cooldown_seconds=60,
            policies=(StepPolicy(type="percent", value=100, period_seconds=15),),
        ),
    )


class Settings(Section):
    """Everything compose-flowise reads from its config file."""

    compose: ComposeSettings = Field(
        default_factory=ComposeSettings, description="The Docker Compose project."
    )
    redis: RedisSettings = Field(
        default_factory=RedisSettings, description="The Redis that holds the queues."
    )
    nginx: NginxSettings = Field(
        default_factory=NginxSettings, description="The nginx in front of the mains."
    )
    daemon: DaemonSettings = Field(default_factory=DaemonSettings, description="The loop.")
    services: dict[str, ServicePolicy] = Field(
        default_factory=default_services,
        min_length=1,
        description="The compose services to scale, by name. A service named like a default "
        "one (`flowise`, `flowise-worker`) starts from that default; the keys given win.",
    )

    @model_validator(mode="before")
    @classmethod
    def _start_from_default_services(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
            return data
        defaults = {name: s.model_dump() for name, s in default_services().items()}
        services = {
            name: _merged(defaults[name], given) if name in defaults else given
            for name, given in data["services"].items()
        }
        return {**data, "services": services}


def _merged(base: Mapping[str, Any], override: Any) -> Any:
    """`override` laid over `base`, table by table; anything that is not a table replaces."""
    if not isinstance(override, Mapping):
        return override
    merged = dict(base)
    for key, value in override.items():
        below = base.get(key)
        merged[key] = _merged(below, value) if isinstance(below, Mapping) else value
    return merged


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


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class LoadedConfig:
    settings: Settings
    source: str
    """The file it came from, or `embedded defaults`."""


def locate(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read, or None for the embedded defaults."""
    if explicit is not None:
        return explicit
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return None


def load(explicit: Path | None, environ: Mapping[str, str]) -> LoadedConfig:
    path = locate(explicit, environ)
    if path is None:
        return LoadedConfig(Settings(), "embedded defaults")
    return LoadedConfig(parse(_read(path), str(path)), str(path))


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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError([Problem(str(path), "", f"cannot read the config file: {reason}")])


_SIGNAL_KINDS = {"bullmq_queue", "nginx_in_flight", "nginx_request_rate"}


def _most_specific(details: list[Any]) -> list[Any]:
    """Leave out an error about a table when an error inside that table explains it."""
    locs = [tuple(detail["loc"]) for detail in details]
    return [
        detail
        for detail, loc in zip(details, locs)
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
    """('services', 'flowise', 'signals', 0, 'bullmq_queue', 'queue') -> services.flowise.signals[0].queue"""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if isinstance(part, int):
            parts[-1] += f"[{part}]"
        elif part in _SIGNAL_KINDS and index > 0 and isinstance(loc[index - 1], int):
            continue  # pydantic names the union member it tried; the user never wrote that key
        else:
            parts.append(str(part))
    return ".".join(parts)


def _shown(key: str, value: Any) -> str:
    text = mask_url_password(value) if key == "redis.url" and isinstance(value, str) else value
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def mask_url_password(url: str) -> str:
    """redis://user:secret@host:6379/0 -> redis://user:***@host:6379/0"""
    scheme, separator, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not separator or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{location}"


def public_view(settings: Settings) -> dict[str, Any]:
    """The settings as plain data with every secret masked: safe to print or log."""
    view = settings.model_dump(mode="json", exclude_none=True)
    view["redis"]["url"] = mask_url_password(view["redis"]["url"])
    return view
