"""`scale` as typed: durations, and what is refused before anything is touched."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from autoscaler import config
from autoscaler.cli import main
from autoscaler.commands.scale import duration as _duration
from autoscaler.runtime.state import StateFile

DURATIONS = {"90s": 90, "30m": 1800, "2h": 7200, "1h30m": 5400, "1h0m5s": 3605}


@pytest.mark.parametrize("text,seconds", DURATIONS.items(), ids=DURATIONS.keys())
def test_durations(text: str, seconds: int) -> None:
    assert _duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "5d", "m30", "0s", "-5m", "999999999999h", "8785h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _duration(text)


@pytest.fixture
def state_config(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.delenv(config.ENV_VAR, raising=False)
    path = tmp_path / "config.toml"
    path.write_text(f"[daemon]\nstate_file = '{tmp_path / 'state.json'}'\n")
    return path


REFUSED = {
    "several services and none named": (["scale", "3"], "name the service with --service"),
    "an unknown service": (["scale", "3", "--service", "api"], "unknown service 'api'"),
    "above max without --force": (
        ["scale", "9", "--service", "flowise"],
        "outside flowise's [min_replicas, max_replicas]",
    ),
    "a negative count": (["scale", "-1", "--service", "flowise", "--force"], "0 or more"),
    "--auto with --for": (["scale", "--auto", "--for", "1h"], "--auto releases the pin"),
}


@pytest.mark.parametrize("argv,message", REFUSED.values(), ids=REFUSED.keys())
def test_refused_with_exit_2_before_acting(argv, message, state_config, capsys) -> None:
    assert main([*argv, "--config", str(state_config)]) == 2
    assert message in capsys.readouterr().err
    assert not (state_config.parent / "state.json").exists(), "nothing was pinned"


def test_auto_releases_a_pin_without_touching_docker(state_config, capsys) -> None:
    assert main(["scale", "--auto", "--service", "flowise", "--config", str(state_config)]) == 0
    assert "flowise: was not pinned" in capsys.readouterr().out


def test_a_failed_scale_pins_nothing(state_config, monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    argv = ["scale", "5", "--service", "flowise-worker", "--config", str(state_config)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "flowise-worker not scaled, nothing pinned" in err
    state = StateFile(tmp_path / "state.json").read()
    assert state.history("flowise-worker").override is None


def test_a_duration_beyond_a_year_is_refused_with_exit_2(state_config, capsys) -> None:
    argv = ["scale", "5", "--service", "flowise-worker", "--for", "999999999999h"]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--config", str(state_config)])
    assert exit_.value.code == 2
    assert "longer than 8784h (a year): leave --for out to pin for good" in capsys.readouterr().err
    assert not (state_config.parent / "state.json").exists(), "nothing was pinned"


IMPOSSIBLE_ENDS = {"beyond the year 9999": "3.6e15", "infinite": "Infinity", "not a number": "NaN"}


@pytest.mark.parametrize("until", IMPOSSIBLE_ENDS.values(), ids=IMPOSSIBLE_ENDS.keys())
def test_a_stored_pin_with_no_possible_end_is_ignored_with_a_warning(
    until, state_config, tmp_path, caplog, capsys
) -> None:
    pins = {"flowise-worker": f'{{"replicas": 5, "until": {until}}}',
            "flowise": '{"replicas": 3, "until": null}'}  # fmt: skip
    histories = ", ".join(f'"{service}": {{"override": {pin}}}' for service, pin in pins.items())
    (tmp_path / "state.json").write_text(f'{{"histories": {{{histories}}}}}')
    state = StateFile(tmp_path / "state.json").read()
    assert state.history("flowise-worker").override is None
    assert state.history("flowise").override is not None, "a sound pin is kept"
    assert "flowise-worker's pin at 5 ends at no possible date" in caplog.text
    argv = ["scale", "--auto", "--service", "flowise-worker", "--config", str(state_config)]
    assert main(argv) == 0
    assert "flowise-worker: was not pinned" in capsys.readouterr().out


NEGATIVE_DURATIONS = {
    "as a separate word": (
        ["--for", "-5m"],
        "(a value that starts with '-' is written --for=VALUE)",
    ),
    "after =": (["--for=-5m"], "a duration cannot be negative: '-5m'"),
}


@pytest.mark.parametrize(
    ("argv", "message"), NEGATIVE_DURATIONS.values(), ids=NEGATIVE_DURATIONS.keys()
)
def test_a_negative_duration_is_named(argv, message, state_config, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scale", "3", "--service", "flowise", *argv, "--config", str(state_config)])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
