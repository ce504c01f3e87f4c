"""Real Flowise 3.1.4 for the end-to-end tests and bench/real_flowise.py: the product's stack
(`compose-flowise init` + `up`, flowise_stack.py) running the local image that
.ci/build-flowise-image builds, bootstrapped headless the way an operator's script would do it:
register the admin, log in, create an API key, create the LLM-free flow of
flows/sleep-agentflow.json (a question "N" sleeps N ms on a worker)."""

from __future__ import annotations

import itertools
import json
import secrets
import subprocess
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import requests
import tomli_w
from flowise_stack import FlowiseStack, running_flowise_stack
from harness import Clients, HarnessError, free_port

from autoscaler.runtime import wiring

REPO = Path(__file__).resolve().parents[2]
IMAGE_ENV = REPO / ".ci" / "flowise-image.env"
FLOW_FILE = Path(__file__).resolve().parent / "flows" / "sleep-agentflow.json"
"""Start -> Custom Function, no LLM: built from the "SQL Agent" template of flowise 3.1.4."""

QUEUE = "flowise-queue-prediction"
WORKER_CONCURRENCY = 2
"""Small, so that a burst of predictions builds a backlog at once."""
ADMIN_PASSWORD = "Compose-Flowise-e2e-1"  # Flowise wants upper, lower, digit and a symbol
API_KEY_PERMISSIONS = ["chatflows:view", "chatflows:create", "chatflows:update", "chatflows:delete"]


def flowise_image() -> str:
    """The local image's reference, checked to exist."""
    if not IMAGE_ENV.exists():
        raise HarnessError(f"{IMAGE_ENV} is missing: run .ci/build-flowise-image (.ci/run does)")
    image = IMAGE_ENV.read_text().strip().split("=", 1)[1]
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    if found.returncode != 0:
        raise HarnessError(f"no image {image}: run .ci/build-flowise-image (.ci/run does)")
    return image


def sleep_flow() -> dict:
    """The body that creates the LLM-free flow."""
    return json.loads(FLOW_FILE.read_text())


@dataclass(frozen=True)
class Account:
    email: str
    api_key: str
    flow_id: str


def bootstrap(url: str, flow: dict) -> Account:
    """The first account (it owns the organisation), an API key, and the flow; no UI."""
    session = requests.Session()
    email = f"admin-{secrets.token_hex(3)}@example.com"

    def call(method: str, path: str, **kwargs) -> requests.Response:
        response = session.request(method, f"{url}/api/v1/{path}", timeout=60, **kwargs)
        if not response.ok:
            raise HarnessError(f"{method} /api/v1/{path}: {response.status_code} {response.text}")
        return response

    user = {"name": "admin", "email": email, "credential": ADMIN_PASSWORD}
    call("POST", "account/register", json={"user": user})
    call("POST", "auth/login", json={"email": email, "password": ADMIN_PASSWORD})
    # The login cookies count only with this header, on every endpoint but login itself.
    internal = {"x-request-from": "internal"}
    key_request = {"keyName": "compose-flowise-e2e", "permissions": API_KEY_PERMISSIONS}
    keys = call("POST", "apikey", headers=internal, json=key_request).json()
    api_key = next(k["apiKey"] for k in keys if k["keyName"] == key_request["keyName"])
    session.cookies.clear()  # from here on, the API key alone
    created = call("POST", "chatflows", json=flow, headers={"Authorization": f"Bearer {api_key}"})
    return Account(email, api_key, created.json()["id"])


@dataclass
class RealFlowise:
    stack: FlowiseStack
    account: Account

    @property
    def url(self) -> str:
        return self.stack.http_url

    def predict(self, question: str, timeout: float = 180) -> requests.Response:
        return requests.post(f"{self.url}/api/v1/prediction/{self.account.flow_id}",
                             json={"question": question}, timeout=timeout)  # fmt: skip

    def redis(self) -> redis.Redis:
        return wiring.redis_client(self.stack.settings)

    def queue(self) -> tuple[int, int]:
        """(waiting, active) of the prediction queue, straight from BullMQ's keys."""
        client = self.redis()
        return client.llen(f"bull:{QUEUE}:wait"), client.llen(f"bull:{QUEUE}:active")

    def running(self, service: str) -> list[str]:
        """The names of the service's running replicas. Through the product's own listing (one
        `docker container inspect` of the project): replicas come and go during these tests,
        and python-on-whales' per-container objects fail on one removed under them."""
        snapshot = wiring.transaction(self.stack.settings).snapshot()
        return [r.name for r in snapshot.get(service, []) if r.state == "running"]

    def daemon_config(self, path: Path, services: dict) -> Path:
        """The stack's own config file (written by init) with `services` and a free metrics
        port laid over it: what an operator edits."""
        settings = tomllib.loads(self.stack.config_file.read_text())
        settings.setdefault("daemon", {})["metrics_port"] = free_port()
        settings["services"] = services
        path.write_text(tomli_w.dumps(settings))
        path.chmod(0o600)
        return path


@contextmanager
def running_real_flowise(folder: Path, **env: str) -> Iterator[RealFlowise]:
    """init + up with the real image (2 mains, 1 worker), bootstrapped; torn down at the end."""
    image, flow = flowise_image(), sleep_flow()  # fail before starting anything
    env = {"FLOWISE_IMAGE": image, "WORKER_CONCURRENCY": str(WORKER_CONCURRENCY), **env}
    with running_flowise_stack(folder, **env) as stack:
        yield RealFlowise(stack, bootstrap(stack.http_url, flow))


@dataclass
class Outcome:
    started: float
    ended: float
    status: int | None
    text: str = ""


class PredictionLoad(Clients):
    """Clients sending predictions through nginx one after another, until stopped."""

    def __init__(
        self, flowise: RealFlowise, question: str, clients: int = 4, max_seconds: float = 300
    ) -> None:
        super().__init__(clients, max_seconds)
        self.flowise = flowise
        self.question = question

    def send(self, session: requests.Session) -> Outcome:
        return timed_prediction(self.flowise, self.question, timeout=120)

    @property
    def outcomes(self) -> list[Outcome]:
        return self.results


class PredictionArrivals:
    """Predictions started through nginx at a fixed rate, each in a thread of its own, however
    long the answers take: an open loop, as independent users send them. (PredictionLoad's
    clients each wait for their answer, so they hold as many jobs as there are clients whatever
    the job time.) `question` may change as it runs: each start asks the one set then. Bounded:
    nothing starts after `max_seconds`; leaving the block waits for the answers."""

    def __init__(
        self,
        flowise: RealFlowise,
        question: str,
        per_second: float,
        max_seconds: float = 900,
        timeout: float = 180,
    ) -> None:
        self.flowise = flowise
        self.question = question
        self.per_second = per_second
        self.max_seconds = max_seconds
        self.timeout = timeout
        self.outcomes: list[Outcome] = []

    def __enter__(self) -> PredictionArrivals:
        self._stop = threading.Event()
        self._requests: list[threading.Thread] = []
        self._scheduler = threading.Thread(target=self._start_on_schedule)
        self._scheduler.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_starting()
        for request in self._requests:
            request.join()

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    def stop_starting(self) -> None:
        """Start no more predictions; those started still get their answers."""
        self._stop.set()
        self._scheduler.join()

    def _start_on_schedule(self) -> None:
        """The n-th start at n / per_second from the first, not after the one before: a late
        wake-up does not lower the rate."""
        first = time.monotonic()
        for number in itertools.count():
            at = first + number / self.per_second
            if at > first + self.max_seconds or self._stop.wait(max(0.0, at - time.monotonic())):
                return
            request = threading.Thread(target=self._send, args=(self.question,))
            request.start()
            self._requests.append(request)

    def _send(self, question: str) -> None:
        self.outcomes.append(timed_prediction(self.flowise, question, self.timeout))


def timed_prediction(flowise: RealFlowise, question: str, timeout: float) -> Outcome:
    """One prediction through nginx: when it started and ended, and its answer or error."""
    started = time.monotonic()
    try:
        response = flowise.predict(question, timeout=timeout)
        return Outcome(started, time.monotonic(), response.status_code, response.text)
    except requests.RequestException as error:
        return Outcome(started, time.monotonic(), None, repr(error))
