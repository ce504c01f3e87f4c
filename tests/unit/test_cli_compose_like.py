"""The command line as `docker compose` users expect it: --version, SERVICE=N, the config of
the folder it runs in, --config before the command, shell completion, doctor --json."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from autoscaler import config, locations
from autoscaler.cli import main
from autoscaler.runtime.state import StateFile


@pytest.fixture(autouse=True)
def no_config_around(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(locations, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    monkeypatch.delenv(config.ENV_VAR, raising=False)


@pytest.fixture
def stack(tmp_path: Path, capsys) -> Path:
    """A stack's folder, as init writes it."""
    folder = tmp_path / "stack"
    assert main(["init", str(folder), "--project-name", "shop"]) == 0
    capsys.readouterr()
    return folder


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"compose-flowise version {version('compose-flowise')}\n"


def test_the_folders_config_is_found_and_named_on_stderr(stack, monkeypatch, capsys) -> None:
    monkeypatch.chdir(stack)
    assert main(["config", "check"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{stack / 'config.toml'}: valid")
    assert err == f"using {stack / 'config.toml'}\n"


def test_the_environment_wins_over_the_folder(stack, tmp_path, monkeypatch, capsys) -> None:
    other = tmp_path / "other.toml"
    other.write_text("[compose]\nproject_name = 'other'\n")
    monkeypatch.chdir(stack)
    monkeypatch.setenv(config.ENV_VAR, str(other))
    assert main(["config", "show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["compose"]["project_name"] == "other"


CONFIG_PLACES = {
    "before the command": ["--config", "{stack}/config.toml", "config", "show", "--json"],
    "after it": ["config", "show", "--json", "--config", "{stack}/config.toml"],
    "after it, winning": ["--config", "{stack}/absent.toml", "config", "show", "--json",
                          "--config", "{stack}/config.toml"],
}  # fmt: skip


@pytest.mark.parametrize("argv", CONFIG_PLACES.values(), ids=CONFIG_PLACES.keys())
def test_config_before_or_after_the_command(stack, capsys, argv) -> None:
    assert main([part.format(stack=stack) for part in argv]) == 0
    assert json.loads(capsys.readouterr().out)["compose"]["project_name"] == "shop"


def test_config_before_a_command_that_takes_none_is_refused(stack, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--config", str(stack / "config.toml"), "init", str(stack / "new")])
    assert exit_.value.code == 2
    assert "init takes no --config" in capsys.readouterr().err
    assert not (stack / "new").exists()


@pytest.fixture
def unreachable_docker(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")


def test_scale_service_equals_n_acts_on_that_service(stack, unreachable_docker, capsys) -> None:
    assert main(["scale", "flowise-worker=2", "--config", str(stack / "config.toml")]) == 1
    assert "flowise-worker not scaled, nothing pinned" in capsys.readouterr().err


REFUSED = {
    "a service named twice": (["flowise=2", "--service", "flowise-worker"], "name it once"),
    "two counts, one unnamed": (["flowise=2", "3"], "give each as SERVICE=N"),
    "an unknown service": (["api=2"], "unknown service 'api'"),
    "one count out of bounds": (
        ["flowise=2", "flowise-worker=99"],
        "99 is outside flowise-worker's",
    ),
    "no count": ([], "say the count: N or SERVICE=N"),
}


@pytest.mark.parametrize(("argv", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_scale_refuses_before_acting(stack, unreachable_docker, capsys, argv, message) -> None:
    assert main(["scale", *argv, "--config", str(stack / "config.toml")]) == 2
    assert message in capsys.readouterr().err
    assert StateFile(stack / "state" / "state.json").read().histories == {}


@pytest.mark.parametrize("text", ["=2", "flowise=", "flowise=two", "two"])
def test_scale_names_a_target_it_cannot_read(capsys, text) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["scale", text])
    assert exit_.value.code == 2
    assert f"say N or SERVICE=N, not {text!r}" in capsys.readouterr().err


def completions(script: str, words: list[str]) -> list[str]:
    """What bash, with `script` sourced, offers for the last of `words`."""
    line = " ".join(words)
    program = (
        f"source /dev/stdin; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; _shtab_compose_flowise; '
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    result = subprocess.run(["bash", "-c", program], input=script, capture_output=True,
                            text=True, check=True, timeout=30)  # fmt: skip
    return result.stdout.split()


def test_bash_completion_offers_commands_and_their_options(capsys) -> None:
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert completions(script, ["compose-flowise", "sc"]) == ["scale"]
    assert completions(script, ["compose-flowise", "scale", "--fo"]) == ["--for", "--force"]
    assert "doctor" in completions(script, ["compose-flowise", ""])


def test_completion_without_shtab_says_how_to_get_it(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)
    assert main(["completion", "bash"]) == 1
    assert "pip install 'compose-flowise[completion]'" in capsys.readouterr().err


def test_doctor_json_lists_each_problem_as_the_text_does(stack, capsys) -> None:
    with (stack / ".env").open("a") as env:
        env.write("FLOWISE_QUEUE_ENABLED=true\n")
    argv = ["doctor", "--config", str(stack / "config.toml")]
    assert main(argv) == 1
    text = capsys.readouterr().out
    assert main([*argv, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["project"] == "shop" and report["ok"] is False
    assert report["problems"], "the premise: doctor finds the article's variable"
    for problem in report["problems"]:
        assert set(problem) == {"check", "problem", "fix"}
        assert f"{problem['check']}: {problem['problem']}\n    fix: {problem['fix']}" in text


HEAVY = ("pydantic", "python_on_whales", "redis", "requests", "apscheduler", "prometheus_client")
LOADED = {
    "--help": (["--help"], HEAVY),
    "--version": (["--version"], HEAVY),
    "config show": (["config", "show"], HEAVY[1:]),
}


@pytest.mark.parametrize(("argv", "absent"), LOADED.values(), ids=LOADED.keys())
def test_a_command_imports_only_what_it_needs(tmp_path: Path, argv, absent) -> None:
    program = (
        "import sys\nfrom autoscaler.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "except SystemExit:\n    pass\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", program, *argv], cwd=tmp_path, text=True,
                            capture_output=True, env={}, timeout=60)  # fmt: skip
    loaded = set(result.stderr.split())
    assert "autoscaler.cli" in loaded, result.stderr
    assert not loaded & set(absent)
