"""The config file: its models (settings), loading them with precise errors (loading), and a
commented file written from the models' own descriptions (commented). Reads the disk only."""

from autoscaler.config.loading import (
    ConfigError,
    LoadedConfig,
    Problem,
    from_text,
    load,
    parse,
    read,
    snapshot,
)
from autoscaler.config.settings import (
    ComposeSettings,
    DaemonSettings,
    DeafMainSettings,
    NginxSettings,
    RedisSettings,
    ServicePolicy,
    Settings,
    default_services,
)
from autoscaler.config_snapshot import mask_url_password
from autoscaler.locations import ENV_VAR, FOLDER_CONFIG, STATE_DIR, SYSTEM_CONFIG, locate

__all__ = [
    "ENV_VAR",
    "FOLDER_CONFIG",
    "STATE_DIR",
    "SYSTEM_CONFIG",
    "ComposeSettings",
    "ConfigError",
    "DaemonSettings",
    "DeafMainSettings",
    "LoadedConfig",
    "NginxSettings",
    "Problem",
    "RedisSettings",
    "ServicePolicy",
    "Settings",
    "default_services",
    "from_text",
    "load",
    "locate",
    "mask_url_password",
    "parse",
    "read",
    "snapshot",
]
