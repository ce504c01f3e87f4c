"""The config file: lookup order, defaults, merging, and errors that say where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler import config, locations
from autoscaler.config import ConfigError, Settings, load, parse
from autoscaler.config_snapshot import public_data
from autoscaler.signals.bullmq_queue import QueueSignal


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse(text, "site.toml")
    return [str(problem) for problem in raised.value.problems]


def test_the_embedded_defaults_scale_mains_on_nginx_and_workers_on_both_queues() -> None:
    settings = Settings()
    mains, workers = settings.services["flowise"], settings.services["flowise-worker"]
    assert {s.kind for s in mains.signals} == {"nginx_in_flight", "nginx_request_rate"}
    assert [s.kind for s in workers.signals] == ["bullmq_queue", "bullmq_queue"]
    assert [s.queue for s in workers.signals] == [
        "flowise-queue-prediction", "flowise-queue-upsertion",
    ]  # fmt: skip
    assert settings.redis.key_prefix == "bull"
    assert mains.min_replicas >= 2, "one main is a single point of failure"


def test_an_empty_file_is_the_defaults() -> None:
    assert parse("", "site.toml") == Settings()


def test_a_default_service_keeps_its_defaults_for_keys_not_given() -> None:
    settings = parse("[services.flowise-worker]\nmax_replicas = 20\n", "site.toml")
    workers = settings.services["flowise-worker"]
    assert workers.max_replicas == 20
    assert workers.signals == Settings().services["flowise-worker"].signals


def test_a_default_service_not_written_keeps_its_defaults() -> None:
    settings = parse("[services.flowise-worker]\nmax_replicas = 20\n", "site.toml")
    assert settings.services["flowise"] == Settings().services["flowise"]
    assert list(settings.services) == ["flowise", "flowise-worker"]


def test_a_default_service_written_false_is_not_scaled() -> None:
    text = (
        "[services]\nflowise = false\n"
        "[services.my-api]\nsignals = [{ kind = 'nginx_in_flight', target_per_replica = 9 }]\n"
    )
    assert list(parse(text, "site.toml").services) == ["flowise-worker", "my-api"]


def test_leaving_every_service_out_is_a_mistake() -> None:
    text = "[services]\nflowise = false\nflowise-worker = false\n"
    with pytest.raises(ConfigError, match=r"site.toml: services: .*at least 1 item"):
        parse(text, "site.toml")


def test_a_nested_key_overrides_only_itself() -> None:
    text = "[services.flowise.behavior.scale_down]\nstabilization_window_seconds = 600\n"
    rules = parse(text, "site.toml").services["flowise"].behavior.scale_down
    assert rules.stabilization_window_seconds == 600
    assert rules.policies == Settings().services["flowise"].behavior.scale_down.policies


def test_any_service_can_take_any_signal() -> None:
    text = """
[services.my-api]
min_replicas = 0
max_replicas = 3
signals = [{ kind = "bullmq_queue", queue = "other", jobs_per_second_per_replica = 4 }]
"""
    service = parse(text, "site.toml").services["my-api"]
    assert service.signals == (QueueSignal(queue="other", jobs_per_second_per_replica=4),)


MISTAKES = {
    "unknown key": (
        "[redis]\ncolour = 'blue'\n",
        "site.toml: redis.colour: unknown key",
    ),
    "unknown section": ("[nginxx]\n", "site.toml: nginxx: unknown key"),
    "min above max": (
        "[services.flowise]\nmin_replicas = 5\nmax_replicas = 2\n",
        "site.toml: services.flowise.max_replicas = 2: must not be below min_replicas (5)",
    ),
    "warm pool above max": (
        "[services.flowise-worker]\nmax_replicas = 3\nwarm_replicas = 4\n",
        "site.toml: services.flowise-worker.warm_replicas = 4: must not be above max_replicas (3)",
    ),
    "negative warm pool": (
        "[services.flowise]\nwarm_replicas = -1\n",
        "site.toml: services.flowise.warm_replicas = -1: Input should be greater than or equal "
        "to 0",
    ),
    "malformed Redis URL": (
        "[redis]\nurl = 'http://localhost:6379'\n",
        "site.toml: redis.url = 'http://localhost:6379': URL scheme should be 'redis' or 'rediss'",
    ),
    "malformed stub_status URL": (
        "[nginx]\nstub_status_url = 'localhost/status'\n",
        "site.toml: nginx.stub_status_url = 'localhost/status': Input should be a valid URL",
    ),
    "wrong type": (
        "[daemon]\ninterval_seconds = 'often'\n",
        "site.toml: daemon.interval_seconds = 'often': Input should be a valid number",
    ),
    "a signal's key, by its index": (
        "[services.flowise-worker]\nsignals = [{kind = 'bullmq_queue', "
        "jobs_per_second_per_replica = 0}]\n",
        "site.toml: services.flowise-worker.signals[0].jobs_per_second_per_replica = 0: "
        "Input should be greater than 0",
    ),
    "an unknown signal kind": (
        "[services.flowise]\nsignals = [{kind = 'cpu'}]\n",
        "site.toml: services.flowise.signals[0]: Input tag 'cpu' found using 'kind' does not match",
    ),
    "a new service without signals": (
        "[services.api]\nmax_replicas = 2\n",
        "site.toml: services.api.signals: required key is missing",
    ),
    "a step policy of an unknown type": (
        "[services.flowise.behavior.scale_up]\npolicies = [{type = 'pod', value = 1, "
        "period_seconds = 15}]\n",
        "site.toml: services.flowise.behavior.scale_up.policies[0].type = 'pod': Input should be",
    ),
    "a surplus budget for scaling up, which has none": (
        "[services.flowise.behavior.scale_up]\nsurplus_replica_seconds = 300\n",
        "site.toml: services.flowise.behavior: scale_up.surplus_replica_seconds: the surplus rule "
        "is for scale_down only",
    ),
    "a watchdog shorter than a tick's reads may wait": (
        "[daemon]\nwatchdog_seconds = 20\n",
        "site.toml: daemon.watchdog_seconds = 20 would restart a daemon whose tick is only "
        "waiting on its reads: it must exceed daemon.interval_seconds plus the Redis and nginx "
        "timeouts of every read of a tick (22 s)",
    ),
    "TOML syntax, with its line": (
        "[redis]\nurl = \n",
        "site.toml: TOML syntax error: Invalid value (at line 2, column 7)",
    ),
}


@pytest.mark.parametrize("text,expected", MISTAKES.values(), ids=MISTAKES.keys())
def test_each_mistake_names_file_key_value_and_why(text: str, expected: str) -> None:
    found = problems(text)
    assert any(problem.startswith(expected) for problem in found), found


def test_every_mistake_is_reported_at_once() -> None:
    found = problems("[redis]\ncolour = 1\n[daemon]\ninterval_seconds = 0\n")
    assert len(found) == 2


def test_a_password_in_a_bad_url_is_masked() -> None:
    found = problems("[redis]\nurl = 'http://:hunter2@localhost:6379'\n")
    assert "hunter2" not in " ".join(found)
    assert "http://:***@localhost:6379" in found[0]


def test_the_public_view_masks_the_redis_password() -> None:
    text = "[redis]\nurl = 'redis://flowise:hunter2@redis:6379/1'\n"
    data = config.snapshot(config.from_text(Path("site.toml"), text)).data
    assert public_data(data)["redis"]["url"] == "redis://flowise:***@redis:6379/1"


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit, from_env, system = (tmp_path / name for name in ("a.toml", "b.toml", "c.toml"))
    system.touch()
    monkeypatch.setattr(locations, "SYSTEM_CONFIG", system)
    env = {config.ENV_VAR: str(from_env)}
    assert config.locate(explicit, env) == explicit
    assert config.locate(None, env) == from_env
    assert config.locate(None, {}) == system
    system.unlink()
    assert config.locate(None, {}) is None


def test_no_file_anywhere_means_the_embedded_defaults(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(locations, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    loaded = load(None, {})
    assert (loaded.source, loaded.settings) == ("embedded defaults", Settings())


def test_a_named_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"absent\.toml: cannot read the config file"):
        load(tmp_path / "absent.toml", {})


def test_the_backend_is_compose_unless_the_file_says_swarm() -> None:
    assert Settings().compose.backend == "compose"
    assert parse('[compose]\nbackend = "swarm"\n', "site.toml").compose.backend == "swarm"
    [problem] = problems('[compose]\nbackend = "kubernetes"\n')
    assert "compose.backend" in problem and "'compose' or 'swarm'" in problem


def test_warm_pools_are_refused_on_swarm() -> None:
    text = '[compose]\nbackend = "swarm"\n[services.flowise-worker]\nwarm_replicas = 1\n'
    [problem] = problems(text)
    assert "warm_replicas of flowise-worker" in problem and 'backend = "compose"' in problem
