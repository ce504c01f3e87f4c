"""The stack's files that ship inside the package: compose/, nginx/ and systemd/."""

from __future__ import annotations

from pathlib import Path

SHIPPED = Path(__file__).resolve().with_name("shipped")


def shipped_path(relative: str) -> Path:
    """The installed copy of e.g. `nginx/nginx.conf`; a clear error when it is missing."""
    path = SHIPPED / relative
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: compose-flowise must be installed with `pip install .`, "
            "which ships the compose/, nginx/ and systemd/ folders inside the package"
        )
    return path
