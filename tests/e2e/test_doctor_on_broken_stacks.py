"""`compose-flowise doctor` on deliberately broken setups: each problem it knows, one at a time,
on the shipped stack as `init` writes it, and all at once on the scaling article's setup.

Only `docker compose config` and a container listing run: nothing is started, nothing pulled.
The commands run in this process, for speed: test_stack_lifecycle runs them as processes."""

from __future__ import annotations

import re
import secrets
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w
from flowise_stack import FlowiseStack, initialized_stack, run_in_process, set_env

from autoscaler.shipped import shipped_path

pytestmark = pytest.mark.e2e

E2E = Path(__file__).resolve().parent


def found_checks(output: str) -> set[str]:
    """The checks named at the start of doctor's lines, as in `queue_mode: MODE=main on ...`."""
    return set(re.findall(r"^([a-z_]+): ", output, flags=re.MULTILINE))


def edit_config(stack: FlowiseStack, change: Callable[[dict], None]) -> None:
    settings = tomllib.loads(stack.config_file.read_text())
    change(settings)
    stack.config_file.write_text(tomli_w.dumps(settings))


def override(stack: FlowiseStack, yaml: str) -> None:
    """Adds a compose file after the shipped one, as an operator's override."""
    path = stack.folder / "override.yaml"
    path.write_text(yaml)
    files = [str(shipped_path("compose/compose.yaml")), str(path)]
    edit_config(stack, lambda settings: settings["compose"].update(files=files))


def environment(**services: dict[str, str]) -> str:
    lines = ["services:"]
    for service, values in services.items():
        lines += [f"  {service}:", "    environment:"]
        lines += [f'      {key}: "{value}"' for key, value in values.items()]
    return "\n".join(lines) + "\n"


def both(**values: str) -> str:
    return environment(flowise=values, **{"flowise-worker": values})


@dataclass(frozen=True)
class Broken:
    name: str
    breaks: Callable[[FlowiseStack], None]
    found: set[str]
    says: str


CASES = [
    Broken("invented variable in .env",
           lambda s: set_env(s.folder / ".env", {"FLOWISE_QUEUE_ENABLED": "true"}),
           {"invented_variables"}, "FLOWISE_QUEUE_ENABLED is set"),
    Broken("invented variable in the compose file",
           lambda s: override(s, both(FLOWISE_CACHE_TYPE="redis")),
           {"invented_variables"}, "FLOWISE_CACHE_TYPE is set (flowise, flowise-worker)"),
    Broken("MODE not queue", lambda s: override(s, both(MODE="main")),
           {"queue_mode"}, "MODE=main on flowise"),
    Broken("SQLite", lambda s: override(s, both(DATABASE_TYPE="sqlite")),
           {"shared_database"}, "flowise uses SQLite"),
    Broken("local storage", lambda s: override(s, both(STORAGE_TYPE="local")),
           {"shared_storage"}, "keeps uploads on local disk"),
    Broken("a secret missing on the workers",
           lambda s: override(s, environment(**{"flowise-worker": {"JWT_AUTH_TOKEN_SECRET": ""}})),
           {"secrets_set"}, "JWT_AUTH_TOKEN_SECRET unset on flowise-worker"),
    Broken("a secret different on the workers",
           lambda s: override(s, environment(**{"flowise-worker": {"TOKEN_HASH_SECRET": "x"}})),
           {"settings_agree"}, "TOKEN_HASH_SECRET differ between flowise, flowise-worker"),
    Broken("no workers scaled",
           lambda s: edit_config(s, lambda c: c.update(
               services={"flowise": {"max_replicas": 4}, "flowise-worker": False})),
           {"workers_present"}, "queue mode without workers"),
    Broken("REMOVE_ON_* unset", lambda s: override(s, both(REMOVE_ON_AGE="", REMOVE_ON_COUNT="")),
           {"finished_jobs_removed"}, "REMOVE_ON_AGE, REMOVE_ON_COUNT unset on flowise"),
    Broken("WORKER_CONCURRENCY unset",
           lambda s: override(s, environment(**{"flowise-worker": {"WORKER_CONCURRENCY": ""}})),
           {"worker_concurrency"}, "WORKER_CONCURRENCY unset on flowise-worker"),
    Broken("stub_status published beyond 127.0.0.1",
           lambda s: override(s, 'services:\n  nginx:\n    ports: ["18081:8081"]\n'),
           {"ports_on_loopback"}, "nginx's stub_status (port 8081) is published beyond"),
    Broken("Redis published beyond 127.0.0.1",
           lambda s: override(s, 'services:\n  redis:\n    ports: ["0.0.0.0:16379:6379"]\n'),
           {"ports_on_loopback"}, "Redis (port 6379) is published beyond 127.0.0.1 by redis"),
    Broken(".env readable by others", lambda s: (s.folder / ".env").chmod(0o644),
           {"env_file_private"}, "readable by others (mode 644)"),
    Broken("a required secret missing from .env",
           lambda s: set_env(s.folder / ".env", {"POSTGRES_PASSWORD": ""}),
           {"compose_resolves"}, "POSTGRES_PASSWORD"),
]  # fmt: skip


def test_the_stack_as_init_writes_it_has_no_problem(tmp_path: Path) -> None:
    stack = initialized_stack(tmp_path, in_process=True)
    result = stack.cli("doctor", in_process=True)
    assert (result.returncode, found_checks(result.stdout)) == (0, set()), result.stdout
    assert "no problem found" in result.stdout


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_doctor_explains_each_problem_with_its_fix(case: Broken, tmp_path: Path) -> None:
    stack = initialized_stack(tmp_path, in_process=True)
    case.breaks(stack)
    result = stack.cli("doctor", in_process=True)
    assert result.returncode == 1, result.stdout + result.stderr
    assert found_checks(result.stdout) == case.found, result.stdout
    assert case.says in result.stdout
    assert "    fix: " in result.stdout


def test_doctor_finds_everything_wrong_with_the_articles_setup(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text(tomli_w.dumps({"compose": {
        "project_name": f"cfarticle-{secrets.token_hex(4)}", "directory": str(tmp_path),
        "files": [str(E2E / "article-compose.yaml")],
    }}))  # fmt: skip
    result = run_in_process("doctor", "--config", str(config_file))
    assert result.returncode == 1
    assert found_checks(result.stdout) == {
        "invented_variables", "queue_mode", "shared_database", "shared_storage", "secrets_set",
        "finished_jobs_removed", "ports_on_loopback",
    }, result.stdout  # fmt: skip
    for variable in ("FLOWISE_QUEUE_ENABLED", "FLOWISE_QUEUE_CONCURRENCY", "FLOWISE_CACHE_TYPE"):
        assert f"{variable} is set (flowise)" in result.stdout
    assert "Redis (port 6379) is published beyond 127.0.0.1 by redis" in result.stdout
