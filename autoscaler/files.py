"""Writing a file so that its readers never see half of it. Talks to the disk only."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PUBLIC = 0o644
PRIVATE = 0o600
"""Only the owner reads it: for files that hold a secret, from their first byte on."""


def write_atomically(path: Path, content: str | bytes, mode: int = PUBLIC) -> None:
    """Replace `path` in one rename, with `mode`, creating its folder if needed.

    The temporary file is created 0600 and only then given `mode`, so a private file is
    never readable by others, not even for a moment.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
