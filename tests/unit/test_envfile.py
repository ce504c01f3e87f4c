"""Reading `.env` files as Docker Compose does, for the cases operators write."""

from __future__ import annotations

import pytest

from autoscaler.envfile import parse_env, render_env

CASES = {
    "plain": ("A=1", {"A": "1"}),
    "comments and blank lines": ("# note\n\nA=1\n  # indented note", {"A": "1"}),
    "export prefix": ("export A=1", {"A": "1"}),
    "double quotes keep a #": ('A="x # y"', {"A": "x # y"}),
    "single quotes": ("A='x y'", {"A": "x y"}),
    "a trailing comment": ("A=1 # the port", {"A": "1"}),
    "an empty value": ("A=", {"A": ""}),
    "an equals sign in the value": ("A=b=c", {"A": "b=c"}),
    "a line without =": ("garbage\nA=1", {"A": "1"}),
    "the last one wins": ("A=1\nA=2", {"A": "2"}),
}


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_parse(text: str, expected: dict[str, str]) -> None:
    assert parse_env(text) == expected


def test_rendered_groups_read_back() -> None:
    text = render_env("Header\nsecond line", [("Ports", {"A": "1", "B": "2"}), ("More", {})])
    assert text.startswith("# Header\n# second line\n")
    assert parse_env(text) == {"A": "1", "B": "2"}
