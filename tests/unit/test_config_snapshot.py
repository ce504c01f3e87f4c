"""`config show` and `status` read the config from a snapshot of it once validated: only while
neither the file nor the code changed, so a config that fails validation is never used."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from autoscaler import config_snapshot
from autoscaler.cli import main
from autoscaler.config_snapshot import recall


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder


def show(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["config", "show", "--json", "--config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_validated_config_is_remembered_privately_and_shown_from_its_snapshot(
    tmp_path, cache, capsys
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[services.flowise-worker]\nmax_replicas = 12\n")
    assert recall(path) is None
    first = show(path, capsys)
    snapshot = recall(path)
    assert snapshot is not None and snapshot.source == str(path)
    assert show(path, capsys) == first, "the snapshot shows what validating showed"
    assert json.loads(first[1])["services"]["flowise-worker"]["max_replicas"] == 12
    (saved,) = (cache / "compose-flowise").iterdir()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600, "it holds the Redis password"


def test_an_edit_that_fails_validation_is_never_shown_from_the_old_snapshot(
    tmp_path, capsys
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[services.flowise]\nmax_replicas = 5\n")
    assert show(path, capsys)[0] == 0
    path.write_text("[services.flowise]\nmax_replicas = 1\n")  # below the default min of 2
    code, out, err = show(path, capsys)
    assert (code, out) == (2, "")
    assert "services.flowise.max_replicas = 1: must not be below min_replicas (2)" in err
    assert recall(path) is None


def test_a_change_to_the_code_makes_every_snapshot_stale(tmp_path, monkeypatch, capsys) -> None:
    package = tmp_path / "package"
    package.mkdir()
    module = package / "settings.py"
    module.write_text("DEFAULT = 1\n")
    monkeypatch.setattr(config_snapshot, "_PACKAGE", package)
    path = tmp_path / "config.toml"
    path.write_text("")
    show(path, capsys)
    assert recall(path) is not None
    module.write_text("DEFAULT = 22\n")
    assert recall(path) is None


def test_without_a_writable_cache_the_config_is_validated_each_time(
    tmp_path, monkeypatch, capsys
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    path = tmp_path / "config.toml"
    path.write_text("[daemon]\ninterval_seconds = 5\n")
    code, out, _ = show(path, capsys)
    assert code == 0 and json.loads(out)["daemon"]["interval_seconds"] == 5
    assert recall(path) is None


def test_show_from_a_snapshot_imports_no_pydantic(tmp_path, capsys, heavy_imports_of) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[daemon]\ninterval_seconds = 5\n")
    show(path, capsys)
    printed, imported = heavy_imports_of("config", "show", "--config", str(path))
    assert "pydantic" not in imported
    assert "interval_seconds = 5" in printed
