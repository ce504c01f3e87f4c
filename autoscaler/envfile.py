"""Reading and writing `.env` files as Docker Compose reads them. Purely computational.

Compose's format: KEY=VALUE lines, `#` comments, an optional `export `, values optionally in
single or double quotes. Enough of it to read what an operator or `init` writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def parse_env(text: str) -> dict[str, str]:
    return {key: _unquoted(written) for key, written in parse_env_as_written(text).items()}


def parse_env_as_written(text: str) -> dict[str, str]:
    """Each key's value as written, quotes and trailing comment included: written back
    unchanged, it reads the same."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        values[key.strip()] = value.strip()
    return values


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].rstrip()


def render_env(header: str, groups: Sequence[tuple[str, Mapping[str, str]]]) -> str:
    """`header`, then each group as its comment and its KEY=VALUE lines."""
    lines = [_commented(header), ""]
    for comment, values in groups:
        lines.append(_commented(comment))
        lines += [f"{key}={value}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def _commented(text: str) -> str:
    return "\n".join(f"# {line}" if line else "#" for line in text.splitlines())


def with_value(text: str, key: str, value: str) -> str:
    """`text` with `key` set to `value`: each of its lines rewritten in place (every other line
    as it was), or one added at the end when the key is not set."""
    lines = text.splitlines()
    found = False
    for index, line in enumerate(lines):
        name, equals, _ = line.strip().removeprefix("export ").partition("=")
        if equals and not line.lstrip().startswith("#") and name.strip() == key:
            lines[index] = f"{key}={value}"
            found = True
    if not found:
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"
