"""`docker flowise ...`: compose-flowise as a Docker CLI plugin.

Docker finds the executable `docker-flowise` in a cli-plugins folder, asks it for its metadata
(`docker-flowise docker-cli-plugin-metadata`), then runs `docker flowise scale 3` as
`docker-flowise flowise scale 3`. The launcher this writes runs autoscaler.docker_cli_plugin
with this installation's Python, which answers both.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

EXECUTABLE = "docker-flowise"
METADATA_COMMAND = "docker-cli-plugin-metadata"


def metadata() -> dict[str, str]:
    return {
        "SchemaVersion": "0.1.0",
        "Vendor": "compose-flowise",
        "Version": version("compose-flowise"),
        "ShortDescription": "Run and autoscale Flowise on Docker Compose",
    }


def default_directory(environ: Mapping[str, str]) -> Path:
    """Docker's own: cli-plugins in $DOCKER_CONFIG, else in ~/.docker."""
    return Path(environ.get("DOCKER_CONFIG") or "~/.docker").expanduser() / "cli-plugins"


def launcher(python: str) -> str:
    return (
        "#!/bin/sh\n"
        "# Docker CLI plugin: `docker flowise ARGS` runs `compose-flowise ARGS`.\n"
        f'exec {shlex.quote(python)} -m autoscaler.docker_cli_plugin "$@"\n'
    )


def install(directory: Path) -> Path:
    path = directory / EXECUTABLE
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(launcher(sys.executable))
    path.chmod(0o755)
    return path
