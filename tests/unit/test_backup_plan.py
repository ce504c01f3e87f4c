"""What a backup holds and when a restore refuses. Pure: no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from autoscaler.errors import BadInput
from autoscaler.stack.backup_plan import (
    Manifest,
    check_database_replaceable,
    check_folder_replaceable,
    damaged,
    default_folder,
)

MANIFEST = Manifest(
    project="flowise",
    created="2026-12-01T08:00:00+00:00",
    flowise_image="flowiseai/flowise:3.1.4",
    digests={"flowise.dump": "d" * 64, "stack.env": "e" * 64, "config.toml": "c" * 64},
)
WHERE = Path("/backups/b/backup.json")


def test_the_default_folder_names_the_project_and_the_utc_time() -> None:
    now = datetime(2026, 12, 1, 8, 5, 9, tzinfo=UTC)
    assert default_folder("flowise", now) == Path("flowise-backup-20261201T080509Z")


def test_the_manifest_reads_back_what_it_wrote() -> None:
    assert Manifest.from_json(MANIFEST.to_json(), WHERE) == MANIFEST


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("not json", "is not a compose-flowise backup manifest"),
        ('{"project": "flowise"}', "is not a compose-flowise backup manifest"),
        (replace(MANIFEST, format=2).to_json(), "is of backup format 2"),
    ],
)
def test_a_manifest_that_is_not_one_is_bad_input_naming_the_file(text: str, phrase: str) -> None:
    with pytest.raises(BadInput, match=phrase) as raised:
        Manifest.from_json(text, WHERE)
    assert str(WHERE) in str(raised.value)


def test_a_whole_backup_has_no_damage_and_each_missing_or_changed_file_is_named() -> None:
    assert damaged(MANIFEST, dict(MANIFEST.digests)) == []
    digests: dict[str, str | None] = {**MANIFEST.digests, "flowise.dump": None, "stack.env": "x"}
    assert damaged(MANIFEST, digests) == [
        "flowise.dump is missing",
        "stack.env differs from the one backed up (SHA-256)",
    ]


def test_an_empty_database_is_replaced_one_with_tables_only_when_forced() -> None:
    check_database_replaceable(0, force=False, project="flowise")
    check_database_replaceable(12, force=True, project="flowise")
    with pytest.raises(BadInput, match=r"database of flowise holds 12 table.*--force"):
        check_database_replaceable(12, force=False, project="flowise")


def test_a_folder_with_other_secrets_is_replaced_only_when_forced() -> None:
    folder = Path("/srv/stack")
    backed_up = {"REDIS_PASSWORD": "r", "TOKEN_HASH_SECRET": "t", "FLOWISE_HTTP_PORT": "80"}
    check_folder_replaceable(folder, {}, backed_up, force=False)  # a fresh folder
    same_stack = {**backed_up, "FLOWISE_HTTP_PORT": "8080"}  # only non-secrets differ
    check_folder_replaceable(folder, same_stack, backed_up, force=False)
    other = {**backed_up, "TOKEN_HASH_SECRET": "other-value"}
    check_folder_replaceable(folder, other, backed_up, force=True)
    with pytest.raises(
        BadInput, match=r"/srv/stack/.env holds other secrets.*TOKEN_HASH_SECRET"
    ) as raised:
        check_folder_replaceable(folder, other, backed_up, force=False)
    assert "other-value" not in str(raised.value)
