"""The config file's models: every setting, with its default and its description. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    IPvAnyAddress,
    RedisDsn,
    ValidationInfo,
    field_validator,
    model_validator,
)

from autoscaler.config.service_timing import DOCKER_CALL_SECONDS, TICKS_LATE, shortest_watchdog
from autoscaler.locations import STATE_DIR, SYSTEM_CONFIG
from autoscaler.policy.parameters import Behavior, DirectionRules, StepPolicy
from autoscaler.shipped import SHIPPED
from autoscaler.signals import SignalConfig
from autoscaler.signals.bullmq_queue import QueueSignal
from autoscaler.signals.nginx_in_flight import InFlightSignal
from autoscaler.signals.nginx_request_rate import RequestRateSignal


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
        "`directory`; default: the compose file shipped with compose-flowise (its stack file, "
        "`compose/swarm.yaml`, on the swarm backend). To change it, list it and your override.",
    )
    env_file: Path | None = Field(
        default=None,
        description="The env file compose interpolates from; default: `.env` in `directory`.",
    )
    backend: Literal["compose", "swarm"] = Field(
        default="compose",
        description="What runs the project: `compose` (one Docker engine), or `swarm`: the "
        "stack `project_name` on a Docker Swarm, through this manager's engine, which must run "
        "nginx.",
    )
    ready_timeout_seconds: float = Field(
        default=180,
        gt=0,
        le=3600,
        description="On scale-out, how long to wait for new replicas to become healthy (a "
        "Flowise main needs about 20 s, longer on its first start).",
    )

    @model_validator(mode="before")
    @classmethod
    def _swarm_deploys_the_shipped_stack_file(cls, data: Any) -> Any:
        """Without `files`, the swarm backend deploys the stack file shipped for it."""
        if isinstance(data, Mapping) and data.get("backend") == "swarm" and "files" not in data:
            return {**data, "files": (SHIPPED / "compose" / "swarm.yaml",)}
        return data

    @property
    def env_path(self) -> Path:
        """The env file compose reads: `env_file`, else `.env` in `directory`."""
        return self.env_file or self.directory / ".env"


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


class DeafMainSettings(Section):
    """A main that stays healthy but never answers: taken out of the upstream and restarted."""

    enabled: bool = Field(
        default=True,
        description="Watch nginx's requests to each main (its open connections, read a "
        "dozen times per `after_seconds`) and restart a main that answers none while the "
        "others answer, or while the workers finish jobs until none is left.",
    )
    after_seconds: float = Field(
        default=120,
        ge=5,
        le=3600,
        description="How long a main may hold requests open without answering any, while "
        "another main answers or the workers finish jobs, before it counts as deaf. Keep it "
        "below your clients' timeout and nginx's prediction timeout: a request given up on "
        "says nothing. Keep it above your longest flows.",
    )
    min_stuck_requests: int = Field(
        default=2,
        ge=1,
        le=10000,
        description="How many requests a main must hold open that long to count as deaf.",
    )


class DaemonSettings(Section):
    """The scheduled loop."""

    interval_seconds: float = Field(
        default=2,
        ge=1,
        le=3600,
        description="Seconds between two ticks: each reads the queues and nginx, and decides. "
        "Cheap: the replicas are listed again only when the engine reports a change.",
    )
    full_reconcile_seconds: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="List and inspect every replica at least this often, even when the Docker "
        "engine reported no change.",
    )
    state_file: Path = Field(
        default=STATE_DIR / "state.json",
        description="Where the daemon keeps its history and manual overrides across restarts. "
        "On the swarm backend they are in Redis instead, for every manager: a file here is "
        "taken over on the first use and renamed `<name>.taken-over`.",
    )
    metrics_port: int = Field(
        default=9464,
        ge=0,
        le=65535,
        description="Prometheus metrics at this port of `metrics_address`; 0 turns them off.",
    )
    metrics_address: IPvAnyAddress = Field(
        default=IPv4Address("127.0.0.1"),
        description="The address the metrics listen on. 127.0.0.1 keeps them on this host; "
        "another (0.0.0.0: every interface) serves them to whoever reaches it: firewall it.",
    )
    watchdog_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Under systemd, the service is restarted when no tick has ended for this "
        "long (its watchdog; `install-service` writes it into the unit). A tick only reads and "
        "starts actions (a scale-out's readiness wait, a drain run beside the ticks). Default: "
        f"{TICKS_LATE} intervals plus the longest tick: each read timing out, each Docker call "
        f"taking {DOCKER_CALL_SECONDS:g} s. Must exceed the interval plus the reads' timeouts.",
    )


class ServicePolicy(Section):
    """How one compose service is scaled."""

    min_replicas: int = Field(default=1, ge=0, le=1000, description="Never fewer replicas.")
    max_replicas: int = Field(default=4, ge=1, le=1000, description="Never more replicas.")
    signals: tuple[SignalConfig, ...] = Field(
        min_length=1,
        description="What to scale on. Each proposes a count; the largest wins.",
    )
    behavior: Behavior = Field(default_factory=Behavior, description="How fast to follow them.")
    warm_replicas: int = Field(
        default=0,
        ge=0,
        le=100,
        description="Replicas kept started and then paused (memory, no CPU, no work): a "
        "scale-out unpauses them first, in about a second instead of a full start, and the "
        "pool is refilled in the background. Neither counted as capacity nor routed.",
    )

    @field_validator("warm_replicas")
    @classmethod
    def _not_above_max(cls, warm_replicas: int, info: ValidationInfo) -> int:
        max_replicas = info.data.get("max_replicas")
        if max_replicas is not None and warm_replicas > max_replicas:
            raise ValueError(f"must not be above max_replicas ({max_replicas})")
        return warm_replicas

    @field_validator("max_replicas")
    @classmethod
    def _not_below_min(cls, max_replicas: int, info: ValidationInfo) -> int:
        min_replicas = info.data.get("min_replicas")
        if min_replicas is not None and max_replicas < min_replicas:
            raise ValueError(f"must not be below min_replicas ({min_replicas})")
        return max_replicas

    @field_validator("signals")
    @classmethod
    def _one_of_each(cls, signals: tuple[SignalConfig, ...]) -> tuple[SignalConfig, ...]:
        names = [signal.name for signal in signals]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"signal given twice: {', '.join(duplicates)}")
        return signals


def default_services() -> dict[str, ServicePolicy]:
    """Flowise in queue mode: mains hold requests open, workers run the jobs of both queues
    (predictions, and upsertions: document loading, the longest jobs Flowise has). A Flowise
    worker runs WORKER_CONCURRENCY jobs of each queue at once, so each queue is sized on its own
    and the larger need wins."""
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
            signals=(
                QueueSignal(queue="flowise-queue-prediction", jobs_per_second_per_replica=1.0),
                QueueSignal(queue="flowise-queue-upsertion", jobs_per_second_per_replica=1.0),
            ),
            behavior=_queue_worker_behavior(),
        ),
    }


def _queue_worker_behavior() -> Behavior:
    """Workers only pull jobs, so adding some is safe, and every second of a backlog counts
    against the service level: up to 1000x (Knative's KPA's max-scale-up-rate, not the HPA's 2x
    per 15 s) or 10 more (from none) per 10 s, so a surge is met in one step and max_replicas
    is the only cap. Down by the surplus rule: after 30 s below the count at least, to the
    highest count asked for since, once the workers that frees times that long reach 450
    replica-seconds (a start and a scale change are worth about that): ten idle workers go in
    one step after 45 s, one idle worker after 7.5 minutes, and load that only wavers moves
    nothing; jobs that got 4 times shorter (the job mix changed) free their workers at once.
    Workers asked for to work a backlog off go once it is worked off, to the count the load
    asked for meanwhile, not in a second step."""
    return Behavior(
        scale_up=DirectionRules(
            tolerance=0.1,
            stabilization_window_seconds=0,
            policies=(
                StepPolicy(type="pods", value=10, period_seconds=10),
                StepPolicy(type="percent", value=100_000, period_seconds=10),
            ),
        ),
        scale_down=DirectionRules(
            stabilization_window_seconds=30,
            surplus_replica_seconds=450,
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
    deaf_mains: DeafMainSettings = Field(
        default_factory=DeafMainSettings, description="Mains that are up but do not answer."
    )
    services: dict[str, ServicePolicy] = Field(
        default_factory=default_services,
        min_length=1,
        description="The compose services to scale, by name. The default ones (`flowise`, "
        "`flowise-worker`) are scaled even when not written, and one written starts from its "
        "default: the keys given win. `flowise = false` here leaves a default one unscaled.",
    )

    @model_validator(mode="after")
    def _warm_pools_only_on_compose(self) -> Settings:
        warm = sorted(name for name, policy in self.services.items() if policy.warm_replicas)
        if warm and self.compose.backend != "compose":
            raise ValueError(
                f"warm_replicas of {', '.join(warm)}: warm pools need compose.backend = "
                f'"compose" (Swarm cannot pause a task)'
            )
        return self

    @model_validator(mode="after")
    def _watchdog_outlasts_a_tick(self) -> Settings:
        watchdog = self.daemon.watchdog_seconds
        shortest = shortest_watchdog(self)
        if watchdog is not None and watchdog <= shortest:
            raise ValueError(
                f"daemon.watchdog_seconds = {watchdog:g} would restart a daemon whose tick is "
                f"only waiting on its reads: it must exceed daemon.interval_seconds plus the "
                f"Redis and nginx timeouts of every read of a tick ({shortest:g} s)"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _start_from_default_services(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
            return data
        defaults = {name: s.model_dump() for name, s in default_services().items()}
        given = data["services"]
        services = {
            name: _merged(defaults[name], given.get(name, {})) if name in defaults else given[name]
            for name in {**defaults, **given}
            if given.get(name) is not False
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
