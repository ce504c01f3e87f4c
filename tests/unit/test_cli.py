"""The command line as an operator uses it: exit codes, messages, and no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler import config, locations
from autoscaler.cli import main
from autoscaler.config import Settings, parse


@pytest.fixture(autouse=True)
def no_system_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(locations, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    monkeypatch.delenv(config.ENV_VAR, raising=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_check_accepts_a_valid_file(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "[services.flowise-worker]\nmax_replicas = 12\n")
    assert main(["config", "check", "--config", str(path)]) == 0
    assert f"{path}: valid" in capsys.readouterr().out


def test_check_rejects_a_bad_file_with_exit_2_and_every_problem(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "[redis]\ncolour = 1\n[services.flowise]\nmin_replicas = 9\n")
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: redis.colour: unknown key" in err
    assert "services.flowise.max_replicas = 6: must not be below min_replicas (9)" in err
    assert "Traceback" not in err


def test_check_finds_the_file_through_the_environment(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(config.ENV_VAR, str(write(tmp_path, "[redis\n")))
    assert main(["config", "check"]) == 2
    assert "TOML syntax error" in capsys.readouterr().err


def test_show_prints_toml_that_reads_back_as_the_same_config(tmp_path, capsys) -> None:
    assert main(["config", "show"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("# effective config from embedded defaults")
    assert parse(shown, "shown") == Settings()


def test_show_keeps_a_turned_off_default_service_off_when_read_back(tmp_path, capsys) -> None:
    path = write(tmp_path, "[services]\nflowise-worker = false\n")
    for _ in ("validated", "from its snapshot"):
        assert main(["config", "show", "--config", str(path)]) == 0
        shown = capsys.readouterr().out
        assert "flowise-worker = false" in shown
        assert parse(shown, "shown") == parse(path.read_text(), "written")


def test_show_masks_the_password(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, "[redis]\nurl = 'rediss://:s3cret@redis.internal:6380/2'\n")
    assert main(["config", "show", "--json", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "s3cret" not in out
    assert json.loads(out)["redis"]["url"] == "rediss://:***@redis.internal:6380/2"


def test_no_command_prints_help_on_stdout_and_succeeds_as_docker_compose_does(capsys) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: compose-flowise" in out
    assert "scale" in out


def test_config_without_an_action_is_bad_input(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["config"])
    assert exit_.value.code == 2
    assert "the following arguments are required: ACTION" in capsys.readouterr().err


def test_the_installed_command_works_from_any_directory(tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("compose-flowise")
    assert command.exists(), "the package is not installed in the test's environment"
    result = subprocess.run(
        [command, "config", "check"], cwd=tmp_path, capture_output=True, text=True,
        env={config.ENV_VAR: ""}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_upgrade_on_a_swarm_says_how_to_roll_it_and_changes_nothing(tmp_path, capsys) -> None:
    path = write(tmp_path, '[compose]\nbackend = "swarm"\n')
    assert main(["upgrade", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert "on the swarm backend" in err and "docker service update --image" in err
    assert "Traceback" not in err
