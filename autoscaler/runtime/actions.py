"""Each service's action (a scaling, a deaf main's restart) runs on its own: a thread per
service, at most one action in progress for it. The tick only starts actions and collects the
finished ones, so a readiness wait, a drain or a restart of one service never holds up the
ticks, nor another service's action.

An action's waits end when the daemon's stop is requested (the transaction's `pause`): `wait`
then returns within a poll, and what was cut short the transaction has already put back
(a drained replica routed to again) or the next start reconciles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Protocol

from autoscaler.actuators.errors import ActuatorError
from autoscaler.errors import Interrupted


class Plan(Protocol):
    """What an action will do (a ScalePlan, a RestartPlan), told before it is done."""

    @property
    def service(self) -> str: ...

    @property
    def summary(self) -> str:
        """In a few words, for the log lines: `2 -> 3`."""
        ...

    def steps(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Action:
    """An action in progress: its plan and when (wall clock) it started."""

    plan: Plan
    started_at: float
    future: Future[object]


@dataclass(frozen=True)
class Finished:
    """An action that ended: its outcome, or why it did not complete."""

    plan: Plan
    started_at: float
    outcome: object
    error: str | None


class Actions:
    """The actions in progress, one at most per service, each in the service's own thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._running: dict[str, Action] = {}

    def start(self, plan: Plan, started_at: float, act: Callable[[], object]) -> None:
        """Run `act` in the service's thread; the caller checked that none is in progress."""
        with self._lock:
            assert plan.service not in self._running, f"{plan.service}: an action is in progress"
            executor = self._executors.get(plan.service)
            if executor is None:
                name = f"act-{plan.service}"
                executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
                self._executors[plan.service] = executor
            self._running[plan.service] = Action(plan, started_at, executor.submit(act))

    def in_progress(self) -> dict[str, Action]:
        """The actions not finished yet, by service."""
        with self._lock:
            return {s: a for s, a in self._running.items() if not a.future.done()}

    def busy(self, service: str) -> bool:
        """An action on `service` is running or finished but not collected yet."""
        with self._lock:
            return service in self._running

    def collect(self) -> dict[str, Finished]:
        """The actions that ended since the last collect, by service; they leave the list."""
        with self._lock:
            done = {s: a for s, a in self._running.items() if a.future.done()}
            for service in done:
                del self._running[service]
        return {service: _finished(action) for service, action in done.items()}

    def wait(self, timeout: float | None = None) -> None:
        """Until every action in progress has ended (a stop ends their waits at once)."""
        with self._lock:
            futures = [action.future for action in self._running.values()]
        wait_for(futures, timeout)

    def shutdown(self) -> None:
        """Wait for the actions in progress, then end the services' threads."""
        self.wait()
        with self._lock:
            executors, self._executors = list(self._executors.values()), {}
        for executor in executors:
            executor.shutdown(wait=True)


def _finished(action: Action) -> Finished:
    try:
        outcome = action.future.result()
    except Interrupted:
        error = "interrupted by the stop: the next start reconciles"
    except ActuatorError as failure:
        error = str(failure)
    except Exception as failure:  # noqa: BLE001 (an action's bug is reported, never lost)
        error = f"action failed: {failure!r}"
    else:
        return Finished(action.plan, action.started_at, outcome, None)
    return Finished(action.plan, action.started_at, None, error)
