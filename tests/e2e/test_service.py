"""The unit `install-service` writes, run by a real systemd (PID 1 of a container): it reaches
READY through sd_notify, outlives its watchdog, reloads on `systemctl reload` keeping a bad
config out, logs to the journal and stops cleanly within TimeoutStopSec, all inside its sandbox.

The daemon reaches the host's Docker engine through the mounted socket (a project of its own,
with no containers); its Redis and nginx are unreachable, so it never holds the lease and never
scales: each tick still lists the project through Docker, finds no nginx to keep the upstream
of, pings the watchdog and saves its state.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator

import pytest
from harness import HarnessError
from systemd_machine import COMPOSE_FLOWISE, CONFIG, UNIT, Machine, systemd_machine

pytestmark = pytest.mark.e2e

WATCHDOG_SECONDS = 10
"""daemon.watchdog_seconds: short, so that the test outlives it."""


def config_text(watchdog_seconds: float, interval_seconds: float = 1) -> str:
    return (
        f"[compose]\nproject_name = 'cfsvc-{secrets.token_hex(4)}'\nready_timeout_seconds = 1\n"
        "[redis]\nurl = 'redis://127.0.0.1:1/0'\ntimeout_seconds = 0.5\n"
        "[nginx]\nstub_status_url = 'http://127.0.0.1:1/nginx_status'\ntimeout_seconds = 0.5\n"
        "drain_timeout_seconds = 0\n"
        f"[daemon]\ninterval_seconds = {interval_seconds}\nwatchdog_seconds = {watchdog_seconds}\n"
        "metrics_port = 0\n"
    )


@pytest.fixture(scope="module")
def machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machine]:
    """The service installed with `install-service` and started, as the README says."""
    try:
        with systemd_machine(tmp_path_factory.mktemp("wheels")) as machine:
            machine.write_config(config_text(WATCHDOG_SECONDS))
            machine.run(str(COMPOSE_FLOWISE), "install-service")
            machine.run("systemctl", "daemon-reload")
            machine.run("systemctl", "start", UNIT, check=False)  # returns once READY=1 came
            if machine.unit("ActiveState")["ActiveState"] != "active":
                pytest.fail(f"{UNIT} did not start:\n{machine.journal()}")
            yield machine
    except HarnessError as error:
        pytest.fail(str(error))


def test_it_is_started_once_ready_and_logs_to_the_journal(machine: Machine) -> None:
    unit = machine.unit("Type", "ActiveState", "SubState", "NotifyAccess")
    assert unit == {"Type": "notify", "NotifyAccess": "main", "ActiveState": "active",
                    "SubState": "running"}  # fmt: skip
    machine.wait_for_journal(f"INFO started ({CONFIG}), every 1s")


def test_in_its_sandbox_it_reaches_docker_and_saves_its_state(machine: Machine) -> None:
    rating = machine.run("systemd-analyze", "security", UNIT, check=False)
    exposure = re.search(r"Overall exposure level for compose-flowise.service: ([0-9.]+)", rating)
    assert exposure is not None and float(exposure[1]) <= 3.5, rating
    machine.wait_for_journal("tick (standing by")
    state = json.loads(machine.run("cat", "/var/lib/compose-flowise/state.json"))
    errors = state["last_tick"]["errors"]
    unreachable = ("nginx_", "bullmq_queue", "nginx upstream: find nginx: no running container")
    assert errors and all(e.startswith(unreachable) for e in errors), errors
    assert "replicas unknown" not in json.dumps(state["last_tick"]), "Docker answered"


def test_it_outlives_its_watchdog(machine: Machine) -> None:
    before = machine.unit("MainPID", "WatchdogUSec", "WatchdogTimestampMonotonic")
    assert before["WatchdogUSec"] == f"{WATCHDOG_SECONDS}s"
    time.sleep(2.5 * WATCHDOG_SECONDS)
    after = machine.unit("MainPID", "NRestarts", "ActiveState", "WatchdogTimestampMonotonic")
    assert after["MainPID"] == before["MainPID"] and after["NRestarts"] == "0", machine.journal()
    assert after["ActiveState"] == "active"
    assert int(after["WatchdogTimestampMonotonic"]) > int(before["WatchdogTimestampMonotonic"])
    assert "Watchdog timeout" not in machine.journal()


def test_a_reload_keeps_a_bad_config_out_and_takes_a_good_one(machine: Machine) -> None:
    pid = machine.unit("MainPID")["MainPID"]
    machine.write_config(config_text(WATCHDOG_SECONDS, interval_seconds=0))
    machine.run("systemctl", "reload", UNIT)
    machine.wait_for_journal("ERROR config not reloaded: /etc/compose-flowise/config.toml: "
                             "daemon.interval_seconds = 0")  # fmt: skip
    machine.write_config(config_text(WATCHDOG_SECONDS + 5))
    machine.run("systemctl", "reload", UNIT)
    machine.wait_for_journal(f"INFO config reloaded from {CONFIG}")
    unit = machine.unit("MainPID", "ActiveState", "WatchdogUSec")
    assert unit == {"MainPID": pid, "ActiveState": "active",
                    "WatchdogUSec": f"{WATCHDOG_SECONDS + 5}s"}, "the watchdog follows"  # fmt: skip


def test_it_stops_cleanly_within_its_stop_timeout(machine: Machine) -> None:
    machine.run("systemctl", "stop", UNIT)
    unit = machine.unit("ActiveState", "Result", "ExecMainStatus")
    # past TimeoutStopSec, systemd kills it: Result=timeout; an exit not 0: Result=exit-code
    assert unit == {"ActiveState": "inactive", "Result": "success", "ExecMainStatus": "0"}, (
        machine.journal()
    )
    journal = machine.journal()
    stopping = journal.index("INFO stopping: ending the tick and actions in progress\n")
    assert journal.index("INFO stopped\n", stopping) < journal.index("Deactivated successfully")
