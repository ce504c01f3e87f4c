"""The stack's files that ship inside the package: compose/, nginx/ and systemd/.

A wheel carries them in `autoscaler/shipped/`; a source checkout (`pip install -e .`) has them
at the top of the repository.
"""

from __future__ import annotations

from pathlib import Path

from autoscaler.errors import OperatorError

_INSTALLED = Path(__file__).resolve().with_name("shipped")
_SOURCE_TREE = Path(__file__).resolve().parents[1]
SHIPPED = _INSTALLED if _INSTALLED.is_dir() else _SOURCE_TREE


class MissingShippedFile(OperatorError):
    pass


def shipped_path(relative: str) -> Path:
    """The installed copy of e.g. `nginx/nginx.conf`; a clear error when it is missing."""
    path = SHIPPED / relative
    if not path.exists():
        raise MissingShippedFile(
            f"{path} is missing: compose-flowise must be installed with `pip install .`, "
            "which ships the compose/, nginx/ and systemd/ folders inside the package"
        )
    return path
