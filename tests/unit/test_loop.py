"""One tick with fakes at the I/O edges: who acts, what is held, what is remembered."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autoscaler.actuators.errors import ActuatorError
from autoscaler.actuators.replicas import Replica
from autoscaler.config import Settings
from autoscaler.loop import Tick
from autoscaler.metrics import QueueLoad, Unavailable
from autoscaler.policy import Override
from autoscaler.state import StateFile

NOW = 1_000_000.0
SIGNAL = "bullmq_queue:flowise-queue-prediction"


def replica(service: str, number: int) -> Replica:
    return Replica(f"{service}{number}", f"p-{service}-{number}", service, number, "running",
                   "healthy", datetime(2026, 1, 1, tzinfo=timezone.utc), {"net": f"10.0.0.{number}"})


@dataclass
class FakeSources:
    reading: QueueLoad | Unavailable

    def read(self, now, services):
        return {SIGNAL: self.reading}


@dataclass
class FakeScaler:
    workers: int = 1
    fail: bool = False
    scaled: list[tuple[str, int]] = field(default_factory=list)

    def snapshot(self):
        if self.fail:
            raise ActuatorError("docker container list", "Cannot connect to the Docker daemon")
        return {"flowise-worker": [replica("flowise-worker", n) for n in range(1, self.workers + 1)]}

    def reconcile(self, snapshot) -> bool:
        return False

    def scale(self, service, target, snapshot):
        self.scaled.append((service, target))


@dataclass
class FakeLease:
    leading: bool = True
    holder: str = "host:1"

    def hold(self, now: float) -> bool:
        return self.leading


def tick(tmp_path: Path, reading, scaler=None, leading=True, dry_run=False) -> tuple[Tick, FakeScaler]:
    settings = Settings.model_validate({"services": {"flowise-worker": {
        "min_replicas": 1, "max_replicas": 8,
        "behavior": {"scale_down": {"stabilization_window_seconds": 0}}}}})  # fmt: skip
    scaler = scaler or FakeScaler()
    built = Tick(settings, FakeSources(reading), scaler, FakeLease(leading),
                 StateFile(tmp_path / "state.json"), lambda: NOW, lambda: 5.0, dry_run)  # fmt: skip
    return built, scaler


BUSY = QueueLoad(backlog=200, active=1, arrival_rate=4.0, completion_rate=1.0)
IDLE = QueueLoad(backlog=0, active=0, arrival_rate=0.0, completion_rate=0.0)

ACTING = {
    "leading: scales": (True, False, [("flowise-worker", 5)]),
    "standing by: decides, does not act": (False, False, []),
    "dry run: decides, does not act": (True, True, []),
}


@pytest.mark.parametrize("leading,dry_run,scaled", ACTING.values(), ids=ACTING.keys())
def test_who_acts(tmp_path, leading, dry_run, scaled) -> None:
    run, scaler = tick(tmp_path, BUSY, leading=leading, dry_run=dry_run)
    result = run()
    assert scaler.scaled == scaled
    assert result.decisions["flowise-worker"].replicas == 5  # +4 pods per period
    assert result.record.services["flowise-worker"].acted == bool(scaled)


def test_docker_unreachable_holds_and_says_why(tmp_path) -> None:
    run, scaler = tick(tmp_path, IDLE, scaler=FakeScaler(workers=4, fail=True))
    result = run()
    assert scaler.scaled == []
    assert result.failures == ("docker",)
    assert "Cannot connect to the Docker daemon" in result.record.errors[0]


def test_a_missing_queue_never_scales_down(tmp_path) -> None:
    run, scaler = tick(tmp_path, Unavailable("redis: ConnectionError"), FakeScaler(workers=4))
    result = run()
    assert scaler.scaled == [] and result.failures == ("redis",)
    assert "no metric available: holding" in result.record.services["flowise-worker"].explanation


def test_an_override_set_during_the_tick_survives_it(tmp_path) -> None:
    run, scaler = tick(tmp_path, IDLE, FakeScaler(workers=4))
    state_file = run.state_file
    original_scale = scaler.scale

    def pin_meanwhile(service, target, snapshot):
        with state_file.locked():
            state = state_file.read()
            pinned = state.history(service).with_override(Override(6, until=NOW + 60))
            state_file.write(state.with_history(service, pinned))
        original_scale(service, target, snapshot)

    scaler.scale = pin_meanwhile
    run()
    saved = state_file.read()
    assert saved.history("flowise-worker").override == Override(6, until=NOW + 60)
    assert saved.last_tick is not None and saved.last_tick.at == NOW


def test_an_expired_override_is_dropped(tmp_path) -> None:
    run, _ = tick(tmp_path, IDLE)
    state = run.state_file.read()
    expired = state.history("flowise-worker").with_override(Override(3, until=NOW - 1))
    run.state_file.write(state.with_history("flowise-worker", expired))
    run()
    assert run.state_file.read().history("flowise-worker").override is None
