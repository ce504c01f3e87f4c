"""A container whose PID 1 is systemd (the image of .ci/build-images' `systemd`), with
compose-flowise installed from this checkout's wheel into a venv, as an operator installs it.

The container reaches the host's Docker engine through the mounted socket and the host's docker
CLI; it is removed, with its volumes, when the `with` block ends, even on failure.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import HeaderParser
from pathlib import Path

from harness import HarnessError, local_images
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

REPO = Path(__file__).resolve().parents[2]
VENV = Path("/opt/compose-flowise")
COMPOSE_FLOWISE = VENV / "bin" / "compose-flowise"
CONFIG = Path("/etc/compose-flowise/config.toml")
UNIT = "compose-flowise.service"
# as checked on these machines: --privileged is refused, and this is enough for systemd; and the
# capability the unit keeps, which Docker's default set lacks and a host's systemd has
SYSTEMD_OPTIONS = (
    "--cap-add", "SYS_ADMIN", "--cap-add", "DAC_READ_SEARCH",
    "--security-opt", "seccomp=unconfined",
    "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "--tmpfs", "/run", "--tmpfs", "/run/lock",
)  # fmt: skip
COMMAND_SECONDS = 120
# packaging.markers.default_environment(), computed by the container's own Python
MARKER_ENVIRONMENT = """
import json, os, platform, sys
info = sys.implementation.version
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": f"{info.major}.{info.minor}.{info.micro}",
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(), "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform, "extra": "",
}))
"""


class Machine:
    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, *command: str, stdin: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            ["docker", "exec", "-i", self.name, *command],
            input=stdin, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise HarnessError(f"{' '.join(command)}: exit {result.returncode}: {result.stderr}")
        return result.stdout

    def unit(self, *properties: str) -> dict[str, str]:
        """`systemctl show` of the service: the properties asked for, by name."""
        shown = self.run("systemctl", "show", UNIT, *(f"--property={p}" for p in properties))
        return dict(line.split("=", 1) for line in shown.splitlines())

    def journal(self) -> str:
        return self.run("journalctl", "--unit", UNIT, "--output", "cat", "--no-pager")

    def wait_for_journal(self, line: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while line not in (journal := self.journal()):
            if time.monotonic() > deadline:
                raise HarnessError(f"no {line!r} in the journal after {timeout}s:\n{journal}")
            time.sleep(0.5)
        return journal

    def write_config(self, text: str) -> None:
        """The config, 0600, owned by an operator's uid rather than root's."""
        self.run("install", "-D", "-m", "600", "-o", "1000", "-g", "1000", "/dev/stdin",
                 str(CONFIG), stdin=text)  # fmt: skip


@contextmanager
def systemd_machine(wheels: Path) -> Iterator[Machine]:
    """systemd running, compose-flowise installed; `wheels` is a scratch folder."""
    machine = Machine(f"cf-systemd-{secrets.token_hex(4)}")
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise HarnessError("no docker CLI on this machine")
    subprocess.run(
        ["docker", "run", "--detach", "--name", machine.name, *SYSTEMD_OPTIONS,
         "-v", "/var/run/docker.sock:/var/run/docker.sock",
         "-v", f"{Path(docker_cli).resolve()}:/usr/local/bin/docker:ro",
         local_images()["CF_IMAGE_SYSTEMD"]],
        capture_output=True, text=True, timeout=COMMAND_SECONDS, check=True,
    )  # fmt: skip
    try:
        _wait_for_systemd(machine)
        _install_package(machine, wheels)
        yield machine
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", machine.name],
                       capture_output=True, timeout=COMMAND_SECONDS, check=False)  # fmt: skip


def _wait_for_systemd(machine: Machine) -> None:
    """Until the boot is done: before systemd's bus is up, `is-system-running` answers nothing
    or `offline`."""
    deadline = time.monotonic() + COMMAND_SECONDS
    while (state := _system_state(machine)) in ("", "offline"):
        if time.monotonic() > deadline:
            raise HarnessError(f"systemd did not come up in {COMMAND_SECONDS}s")
        time.sleep(0.5)
    if state != "running":
        failed = machine.run("systemctl", "--failed", "--no-pager", check=False)
        raise HarnessError(f"systemd is {state!r}, not running:\n{failed}")


def _system_state(machine: Machine) -> str:
    return machine.run("systemctl", "is-system-running", "--wait", check=False).strip()


def _install_package(machine: Machine, wheels: Path) -> None:
    environment = json.loads(machine.run("python3", "-c", MARKER_ENVIRONMENT))
    _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), str(REPO))
    while missing := _missing_requirements(wheels, environment):
        _pip("download", "--no-deps", "--only-binary=:all:", "--dest", str(wheels), *missing)
    subprocess.run(["docker", "cp", f"{wheels}/.", f"{machine.name}:/wheels"],
                   capture_output=True, timeout=COMMAND_SECONDS, check=True)  # fmt: skip
    machine.run("python3", "-m", "venv", str(VENV))
    machine.run(f"{VENV}/bin/pip", "install", "--quiet", "--no-index", "--find-links", "/wheels",
                "compose-flowise")  # fmt: skip


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--quiet", *args],
                   capture_output=True, timeout=600, check=True)  # fmt: skip


def _missing_requirements(wheels: Path, environment: dict[str, str]) -> list[str]:
    """What the wheels in `wheels` require on the container's Python and the folder lacks. The
    host's Python may differ (a marker like python_full_version < "3.11.3"), so markers are
    evaluated here for the container's, not by pip for the host's."""
    present = {parse_wheel_filename(wheel.name)[0] for wheel in wheels.glob("*.whl")}
    missing = []
    for wheel in wheels.glob("*.whl"):
        for requirement in map(Requirement, _requires(wheel)):
            needed = requirement.marker is None or requirement.marker.evaluate(environment)
            if needed and canonicalize_name(requirement.name) not in present:
                missing.append(f"{requirement.name}{requirement.specifier}")
    return missing


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(name).decode())
    return metadata.get_all("Requires-Dist") or []
