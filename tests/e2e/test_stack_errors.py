"""When `up` cannot do its job it says what failed, exits non-zero, and shows no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowise_stack import initialized_stack
from harness import run_cli

pytestmark = pytest.mark.e2e


def test_up_with_a_missing_image_names_the_failure(tmp_path: Path) -> None:
    stack = initialized_stack(tmp_path, FLOWISE_IMAGE="compose-flowise-local/absent:none")
    try:
        result = stack.cli("up")
    finally:
        stack.tear_down()
    assert result.returncode == 1
    assert result.stderr.startswith(f"using {stack.config_file}\nerror: docker compose up: "), (
        result.stderr
    )
    assert "compose-flowise-local/absent" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_down_without_a_stack_folder_says_what_is_missing(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[compose]\ndirectory = "{tmp_path / "absent"}"\n')
    result = run_cli("down", "--config", str(config_file))
    assert result.returncode == 1
    assert result.stderr.startswith(f"using {config_file}\nerror: docker compose down: "), (
        result.stderr
    )
    assert "Traceback" not in result.stderr
