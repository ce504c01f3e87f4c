"""Where compose-flowise looks for its config and keeps its state by default, and, on a Swarm,
what it reads Redis and stub_status through. Light to import: `--help` names them, and
`locate` finds the config, without loading the config's models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

ENV_VAR = "COMPOSE_FLOWISE_CONFIG"
SYSTEM_CONFIG = Path("/etc/compose-flowise/config.toml")
FOLDER_CONFIG = Path("config.toml")
"""Relative: the stack's folder a command runs in."""
STATE_DIR = Path("/var/lib/compose-flowise")


def locate(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: --config FILE, then $COMPOSE_FLOWISE_CONFIG, then ./config.toml
    (run from a stack's folder, as compose finds compose.yaml), then the system's; None for the
    embedded defaults."""
    if explicit is not None:
        return explicit
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR])
    if FOLDER_CONFIG.is_file():
        return FOLDER_CONFIG.absolute()
    if SYSTEM_CONFIG.exists():
        return SYSTEM_CONFIG
    return None


def local_ports_name(project: str) -> str:
    """The container on a Swarm manager that publishes the stack's Redis and stub_status on its
    127.0.0.1 (`up` starts it: stack/swarm_plan.py's LocalPorts)."""
    return f"{project}_local-ports"


def stack_network_name(project: str) -> str:
    """The network of a Swarm stack named `project` that its services share, as `docker stack
    deploy` names the compose file's default network; the local-ports container joins it."""
    return f"{project}_default"
