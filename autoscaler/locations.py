"""Where compose-flowise looks for its config and keeps its state by default. Plain data, and
light to import: `--help` names them without loading the config's models."""

from __future__ import annotations

from pathlib import Path

ENV_VAR = "COMPOSE_FLOWISE_CONFIG"
SYSTEM_CONFIG = Path("/etc/compose-flowise/config.toml")
FOLDER_CONFIG = Path("config.toml")
"""Relative: the stack's folder a command runs in."""
STATE_DIR = Path("/var/lib/compose-flowise")
