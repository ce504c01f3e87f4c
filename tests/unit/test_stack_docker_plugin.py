"""The Docker CLI plugin: metadata by Docker's convention, arguments forwarded to main()."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from autoscaler import docker_cli_plugin
from autoscaler.stack import docker_plugin


def test_answers_the_metadata_request_with_docker_s_schema(capsys) -> None:
    assert docker_cli_plugin.main(["docker-cli-plugin-metadata"]) == 0
    metadata = json.loads(capsys.readouterr().out)
    assert metadata["SchemaVersion"] == "0.1.0"
    assert metadata["Vendor"] == "compose-flowise"
    assert metadata["Version"] and metadata["ShortDescription"]


def test_drops_the_plugin_name_docker_passes_first(monkeypatch, capsys, tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text("")
    monkeypatch.delenv("COMPOSE_FLOWISE_CONFIG", raising=False)
    code = docker_cli_plugin.main(["flowise", "config", "check", "--config", str(config_file)])
    assert code == 0
    assert capsys.readouterr().out.startswith(f"{config_file}: valid")


def test_installs_an_executable_launcher_for_this_python(tmp_path: Path) -> None:
    path = docker_plugin.install(tmp_path / "cli-plugins")
    assert path == tmp_path / "cli-plugins" / "docker-flowise"
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    answer = subprocess.run([path, "docker-cli-plugin-metadata"], capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    assert json.loads(answer.stdout)["Vendor"] == "compose-flowise"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [({"DOCKER_CONFIG": "/srv/docker"}, Path("/srv/docker/cli-plugins")),
     ({}, Path.home() / ".docker" / "cli-plugins")],
    ids=["DOCKER_CONFIG set", "the home folder's .docker"],
)  # fmt: skip
def test_installs_where_docker_looks_by_default(environ, expected) -> None:
    assert docker_plugin.default_directory(environ) == expected


def test_the_launcher_quotes_the_interpreter_path() -> None:
    text = docker_plugin.launcher("/opt/my tools/bin/python")
    assert "exec '/opt/my tools/bin/python' -m autoscaler.docker_cli_plugin \"$@\"" in text
