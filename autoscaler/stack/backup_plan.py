"""What a backup holds and what a restore may overwrite: the backup's files and manifest, the
check that they are whole, and the refusal to replace a database that holds data. Purely
computational: the clock, the files' digests and the database's table count come from the
caller."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from autoscaler.errors import BadInput
from autoscaler.stack.init import SECRETS

MANIFEST = "backup.json"
DUMP = "flowise.dump"
"""pg_dump's custom format: one consistent snapshot of the database."""
ENV = "stack.env"
"""The stack's .env: its secrets decrypt the credentials Flowise stores in the database."""
CONFIG = "config.toml"
FORMAT = 1
FILES = (DUMP, ENV, CONFIG)


def default_folder(project: str, now: datetime) -> Path:
    """Where `backup` writes when given no folder: named by the project and the UTC time."""
    return Path(f"{project}-backup-{now:%Y%m%dT%H%M%SZ}")


@dataclass(frozen=True)
class Manifest:
    """What `backup` wrote, and the SHA-256 of each file, so that `restore` can tell a whole
    backup from a damaged one."""

    project: str
    created: str
    """UTC, ISO 8601."""
    flowise_image: str
    """The image the mains ran: restore into a Flowise at least as new (its migrations)."""
    digests: dict[str, str]
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: Path) -> Manifest:
        try:
            fields = json.loads(text)
            manifest = cls(**fields)
        except (ValueError, TypeError) as error:
            raise BadInput(f"{where} is not a compose-flowise backup manifest: {error}") from None
        if manifest.format != FORMAT:
            raise BadInput(
                f"{where} is of backup format {manifest.format}; this compose-flowise reads "
                f"format {FORMAT} only"
            )
        return manifest


def damaged(manifest: Manifest, digests: dict[str, str | None]) -> list[str]:
    """What is wrong with the backup's files: each missing, or changed since the backup
    (`digests`: each file's SHA-256 now, None when it is missing)."""
    problems = []
    for name in FILES:
        if digests.get(name) is None:
            problems.append(f"{name} is missing")
        elif digests[name] != manifest.digests.get(name):
            problems.append(f"{name} differs from the one backed up (SHA-256)")
    return problems


def check_database_replaceable(tables: int, force: bool, project: str) -> None:
    """A restore replaces the database: refused where it holds tables, unless forced."""
    if tables and not force:
        raise BadInput(
            f"the database of {project} holds {tables} table(s): restore would replace them. "
            "Delete it first (`compose-flowise down --volumes`: the database, the queues and "
            "the uploads), or add --force to replace the database alone"
        )


def check_folder_replaceable(
    folder: Path, current: dict[str, str], backed_up: dict[str, str], force: bool
) -> None:
    """The stack folder's .env (`current`, empty where there is none) may be replaced by the
    backup's when it holds no secret of its own: a fresh folder, or this backup's stack."""
    others = [name for name in SECRETS if current.get(name) not in (None, backed_up.get(name))]
    if others and not force:
        raise BadInput(
            f"{folder / '.env'} holds other secrets than the backup's ({', '.join(others)}): "
            "it is another stack, whose database they decrypt. Restore into a fresh folder, "
            "or add --force to replace them (the .env before is kept as .env.bak)"
        )
