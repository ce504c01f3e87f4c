"""`docker flowise ...` through the real docker CLI, after `compose-flowise install-docker-plugin`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from harness import run_cli

pytestmark = pytest.mark.e2e


def test_docker_lists_the_plugin_and_forwards_its_arguments(tmp_path: Path) -> None:
    docker_config = tmp_path / "docker"
    installed = run_cli("install-docker-plugin", "--dir", str(docker_config / "cli-plugins"))
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "DOCKER_CONFIG": str(docker_config)}
    config_file = tmp_path / "config.toml"
    config_file.write_text("[services.flowise-worker]\nmax_replicas = 12\n")

    def docker(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, check=False,
                              timeout=60)  # fmt: skip

    listing = docker("--help")
    assert "flowise*" in listing.stdout and "Run and autoscale Flowise" in listing.stdout
    checked = docker("flowise", "config", "check", "--config", str(config_file))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"{config_file}: valid")
    refused = docker("flowise", "config", "check", "--config", str(tmp_path / "absent.toml"))
    assert refused.returncode == 2, "compose-flowise's own exit status comes through"
