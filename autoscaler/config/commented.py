"""A commented config file, written from the models' own descriptions. No I/O here."""

from __future__ import annotations

import textwrap
from typing import Any

import tomli_w
from pydantic import BaseModel

from autoscaler.config.settings import Settings


def commented_config(settings: Settings) -> str:
    """Every section with its keys commented out at their values, each with its description.

    Uncommenting a line and changing the value is all an operator has to do.
    """
    view = settings.model_dump(mode="json", exclude_none=True)
    lines = [
        "# compose-flowise config. Every key is optional: a commented one keeps the value",
        "# shown. `compose-flowise config check` validates this file.",
        "",
    ]
    for section, field in Settings.model_fields.items():
        if section == "services":
            continue
        lines += _comment(field.description)
        lines.append(f"[{section}]")
        model = getattr(settings, section)
        lines += _commented_keys(type(model), view[section])
        lines.append("")
    lines += _comment(Settings.model_fields["services"].description)
    lines += [
        "# " + line if line else "#"
        for line in tomli_w.dumps({"services": view["services"]}).splitlines()
    ]
    return "\n".join(lines) + "\n"


def _commented_keys(model: type[BaseModel], values: dict[str, Any]) -> list[str]:
    lines = []
    for key, field in model.model_fields.items():
        lines += _comment(field.description)
        if key in values:
            lines += ["# " + line for line in tomli_w.dumps({key: values[key]}).splitlines()]
        else:
            lines.append(f"# {key}: not set")
    return lines


def _comment(text: str | None) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text or "", 94)]
