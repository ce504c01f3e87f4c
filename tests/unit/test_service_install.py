"""install-service: the unit systemd would run, and the config written beside it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.config import Settings, parse, service_timing

UNIT = Path("etc/systemd/system/compose-flowise.service")
CONFIG = Path("etc/compose-flowise/config.toml")


def install(prefix: Path, *extra: str) -> int:
    return main(["install-service", "--prefix", str(prefix), *extra])


def test_writes_the_unit_and_a_private_commented_config(tmp_path: Path, capsys) -> None:
    assert install(tmp_path) == 0
    unit = (tmp_path / UNIT).read_text()
    executable = Path(sys.executable).with_name("compose-flowise")
    assert f"ExecStart={executable} daemon --config /etc/compose-flowise/config.toml" in unit
    assert "Type=notify" in unit and "Restart=on-failure" in unit
    assert "ReadWritePaths=/var/lib/compose-flowise\n" in unit
    assert (tmp_path / "var/lib/compose-flowise").is_dir()
    config = tmp_path / CONFIG
    assert config.stat().st_mode & 0o777 == 0o600
    assert "systemctl enable --now compose-flowise.service" in capsys.readouterr().out


def test_the_commented_config_uncommented_is_the_defaults(tmp_path: Path) -> None:
    assert install(tmp_path) == 0
    text = (tmp_path / CONFIG).read_text()
    assert parse(text, "commented") == Settings(), "all commented: the defaults"
    keys = [line[2:] for line in text.splitlines() if line.startswith("# ") and " = " in line
            and not line.startswith("# [") and "services" not in line]  # fmt: skip
    sections = [line for line in text.splitlines() if line.startswith("[")]
    assert sections == ["[compose]", "[redis]", "[nginx]", "[daemon]", "[deaf_mains]"]
    assert any(key.startswith("interval_seconds = ") for key in keys)


def test_refuses_to_overwrite_the_unit_without_force(tmp_path: Path, capsys) -> None:
    assert install(tmp_path) == 0
    assert install(tmp_path) == 1
    assert "exists; add --force" in capsys.readouterr().err
    assert install(tmp_path, "--force") == 0


def test_an_existing_config_is_kept_and_its_paths_made_writable(tmp_path: Path) -> None:
    config = tmp_path / CONFIG
    config.parent.mkdir(parents=True)
    config.write_text("[daemon]\nstate_file = '/srv/cf/state.json'\n")
    assert install(tmp_path) == 0
    assert config.read_text().startswith("[daemon]")
    unit = (tmp_path / UNIT).read_text()
    assert "ReadWritePaths=/srv/cf /var/lib/compose-flowise/nginx\n" in unit


@pytest.mark.parametrize("prefix", ["/sys", "a-file"])
def test_an_unwritable_prefix_is_a_clear_error(
    tmp_path: Path, monkeypatch, capsys, prefix: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a-file").write_text("")
    assert install(Path(prefix)) == 1
    err = capsys.readouterr().err
    assert f"cannot write below {prefix}: {prefix}/etc" in err and "--prefix" in err
    assert "Traceback" not in err


def test_a_relative_config_is_run_by_its_absolute_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("stack").mkdir()
    assert install(tmp_path / "root", "--config", "stack/../stack/config.toml") == 0
    config = tmp_path / "stack/config.toml"
    unit = (tmp_path / "root" / UNIT).read_text()
    assert f" daemon --config {config}\n" in unit
    assert (tmp_path / "root" / config.relative_to("/")).is_file()


def unit_seconds(unit: str, key: str) -> int:
    found = re.search(rf"^{key}=(\d+)s$", unit, re.MULTILINE)
    assert found is not None, unit
    return int(found[1])


WATCHDOG_CONFIGS = {
    "the defaults": ("", 3 * 2),
    "an hourly tick": ("[daemon]\ninterval_seconds = 3600\n", 3 * 3600),
    "slow reads": ("[redis]\ntimeout_seconds = 60\n", 3 * 2 + 60 * 9),
}  # fmt: skip


def installed(tmp_path: Path, text: str) -> str:
    config = tmp_path / CONFIG
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    assert install(tmp_path) == 0
    return (tmp_path / UNIT).read_text()


@pytest.mark.parametrize("text, waits", WATCHDOG_CONFIGS.values(), ids=WATCHDOG_CONFIGS.keys())
def test_the_watchdog_outlasts_a_few_intervals_and_the_longest_tick(
    tmp_path: Path, text: str, waits: int
) -> None:
    unit = installed(tmp_path, text)
    watchdog = unit_seconds(unit, "WatchdogSec")
    assert watchdog == service_timing.watchdog_seconds(parse(text, "config"))
    assert watchdog > waits + 4 * service_timing.DOCKER_CALL_SECONDS, (
        "and the tick's Docker calls at their slowest"
    )


def test_ready_and_drain_waits_lengthen_no_watchdog_they_run_beside_the_ticks(
    tmp_path: Path,
) -> None:
    long_waits = "[compose]\nready_timeout_seconds = 900\n[nginx]\ndrain_timeout_seconds = 900\n"
    assert installed(tmp_path / "a", "") == installed(tmp_path / "b", long_waits)


def test_a_stop_waits_for_a_docker_stop_in_progress_and_the_upstream_rebuilt(
    tmp_path: Path,
) -> None:
    stop = unit_seconds(installed(tmp_path, ""), "TimeoutStopSec")
    assert stop > 4 * service_timing.DOCKER_CALL_SECONDS


def test_a_watchdog_set_in_the_config_is_the_units(tmp_path: Path) -> None:
    config = tmp_path / CONFIG
    config.parent.mkdir(parents=True)
    config.write_text("[daemon]\ninterval_seconds = 1\nwatchdog_seconds = 400.5\n")
    assert install(tmp_path) == 0
    assert unit_seconds((tmp_path / UNIT).read_text(), "WatchdogSec") == 401


def systemd_analyze() -> str:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (.ci/provision-host installs systemd)")
    return analyze


def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    assert install(tmp_path) == 0
    result = subprocess.run([systemd_analyze(), "verify", str(tmp_path / UNIT)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "compose-flowise.service" not in result.stderr, result.stderr


def test_the_unit_is_sandboxed(tmp_path: Path) -> None:
    """systemd's own rating of the sandbox: 0 (locked down) to 10 (exposed), 9.0 unhardened."""
    assert install(tmp_path) == 0
    result = subprocess.run(
        [systemd_analyze(), "security", "--offline=true", str(tmp_path / UNIT)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    rating = re.search(r"Overall exposure level for compose-flowise.service: ([0-9.]+)",
                       result.stdout)  # fmt: skip
    assert rating is not None, result.stdout + result.stderr
    assert float(rating[1]) <= 3.5, result.stdout
