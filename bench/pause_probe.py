"""What `docker pause` does to real Flowise 3.1.4 replicas (docs/warm-replicas.md): a worker's
BullMQ connections, jobs and queue wake-ups while it is paused, a main's health and routing,
both after a long pause, and the memory a paused replica keeps. Prints what it sees; takes
about 8 minutes and 4 GB.

Usage: python bench/pause_probe.py [--pause-seconds N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from real_flowise_stack import RealFlowise, running_real_flowise  # noqa: E402

from autoscaler.runtime import wiring  # noqa: E402

MAINS, WORKERS = "flowise", "flowise-worker"
STARTED = time.monotonic()


def say(*parts: object, sep: str = " ") -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s]", *parts, sep=sep, flush=True)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout


def docker_logs(container_id: str, since: float) -> str:
    logs = subprocess.run(["docker", "logs", "-t", "--since", str(int(since)), container_id],
                          capture_output=True, text=True)  # fmt: skip
    return logs.stdout + logs.stderr


def container(flowise: RealFlowise, service: str, number: int) -> dict:
    snapshot = wiring.transaction(flowise.stack.settings).snapshot()
    replica = next(r for r in snapshot[service] if r.number == number)
    return {"id": replica.id, "name": replica.name, "ips": set(replica.addresses.values())}


def redis_clients(flowise: RealFlowise, ips: set[str]) -> list[str]:
    """CLIENT LIST lines of the connections from these addresses: cmd, idle, flags (b = blocked)."""
    rows = []
    for client in flowise.redis().client_list():
        if client["addr"].rsplit(":", 1)[0] in ips:
            rows.append(f"id={client['id']} name={client['name']} cmd={client['cmd']} "
                        f"idle={client['idle']}s flags={client['flags']} "
                        f"omem={client['omem']}")  # fmt: skip
    return rows


def sequential(flowise: RealFlowise, question: str, count: int) -> list[float]:
    """`count` predictions one after another: each one's seconds (None when it failed)."""
    seconds = []
    for _ in range(count):
        started = time.monotonic()
        response = flowise.predict(question, timeout=120)
        seconds.append(round(time.monotonic() - started, 2) if response.ok else None)
    return seconds


def burst(flowise: RealFlowise, question: str, count: int) -> tuple[list, int]:
    """`count` predictions at once: their statuses, and the most jobs seen active at once."""
    most_active = 0
    with ThreadPoolExecutor(count) as pool:
        answers = [pool.submit(flowise.predict, question, 180) for _ in range(count)]
        while not all(a.done() for a in answers):
            most_active = max(most_active, flowise.queue()[1])
            time.sleep(0.1)
    return [a.result().status_code for a in answers], most_active


def memory(names: list[str]) -> str:
    return docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.CPUPerc}}",
                  *names).strip()  # fmt: skip


def health(container_id: str) -> str:
    state = json.loads(docker("inspect", "--format", "{{json .State}}", container_id))
    last = (state.get("Health") or {}).get("Log") or [{}]
    return (
        f"{state['Status']} health={state.get('Health', {}).get('Status')} "
        f"last-probe-exit={last[-1].get('ExitCode')} output={last[-1].get('Output', '')[:80]!r}"
    )


def ping_through_nginx(flowise: RealFlowise, count: int) -> list[str]:
    results = []
    for _ in range(count):
        started = time.monotonic()
        try:
            response = requests.get(f"{flowise.url}/api/v1/ping", timeout=8)
            results.append(f"{response.status_code} in {time.monotonic() - started:.2f}s")
        except requests.RequestException as error:
            results.append(f"{type(error).__name__} after {time.monotonic() - started:.1f}s")
    return results


def right_after_pause(flowise: RealFlowise, worker: dict, unblock: bool) -> list:
    """Pauses the worker (and, if `unblock`, ends its blocked Redis waits as compose-flowise
    does), sends 3 predictions one after another, unpauses it: their seconds."""
    time.sleep(6)  # the worker's blocking waits have started again
    docker("pause", worker["id"])
    if unblock:
        client = flowise.redis()
        for connection in client.client_list():
            if connection["addr"].rsplit(":", 1)[0] in worker["ips"] and "b" in connection["flags"]:
                client.client_unblock(int(connection["id"]))
    try:
        return sequential(flowise, "100", 3)
    finally:
        docker("unpause", worker["id"])


def probe(flowise: RealFlowise, pause_seconds: float) -> None:
    scaler = wiring.transaction(flowise.stack.settings)
    asked = time.monotonic()
    scaler.scale(WORKERS, 2, scaler.snapshot())
    worker = container(flowise, WORKERS, 2)
    while not any("name=bull:" in c for c in redis_clients(flowise, worker["ips"])):
        time.sleep(0.1)
    say(f"worker 2 registered its BullMQ connection {time.monotonic() - asked:.1f}s after the ask")
    time.sleep(5)
    say("worker 2 started at", docker("inspect", "--format", "{{.State.StartedAt}}", worker["id"]))
    logs = subprocess.run(["docker", "logs", "-t", worker["id"]], capture_output=True, text=True)
    print("\n".join(line for line in (logs.stdout + logs.stderr).splitlines()
                    if "[INFO]" in line or "[ERROR]" in line), flush=True)  # fmt: skip
    say("worker 2 Redis clients, running:", *redis_clients(flowise, worker["ips"]), sep="\n  ")
    say("100 ms predictions, 2 workers running:", sequential(flowise, "100", 8))

    for unblock in (False, True, False, True):
        say(f"first 100 ms predictions after a pause, unblocked {unblock}:",
            right_after_pause(flowise, worker, unblock))  # fmt: skip

    docker("pause", worker["id"])
    paused_at = time.monotonic()
    say("worker 2 paused")
    say("100 ms predictions right after the pause:", sequential(flowise, "100", 8))
    say("worker 2 Redis clients, paused:", *redis_clients(flowise, worker["ips"]), sep="\n  ")
    statuses, most_active = burst(flowise, "2000", 16)
    say(f"16 x 2 s at once, one worker (concurrency 2) running: statuses {set(statuses)}, "
        f"most active at once {most_active}")  # fmt: skip

    main = container(flowise, MAINS, 2)
    docker("pause", main["id"])
    say(f"main 2 paused, still in the nginx upstream: {health(main['id'])}")
    say("pings through nginx:", ping_through_nginx(flowise, 4))
    time.sleep(20)
    say(f"main 2 after 20 s paused: {health(main['id'])}")
    scaler.reconcile(scaler.snapshot())
    say("upstream after reconcile:", scaler.upstream.path.read_text())
    say("pings through nginx after reconcile:", ping_through_nginx(flowise, 4))
    say(memory([worker["name"], main["name"], container(flowise, WORKERS, 1)["name"],
                container(flowise, MAINS, 1)["name"]]))  # fmt: skip

    remaining = pause_seconds - (time.monotonic() - paused_at)
    say(f"holding both paused {remaining:.0f}s more (worker {pause_seconds:g}s in all)")
    time.sleep(max(0, remaining))
    say("worker 2 Redis clients after the long pause:",
        *redis_clients(flowise, worker["ips"]), sep="\n  ")  # fmt: skip
    say("main 2 Redis clients after the long pause:",
        *redis_clients(flowise, main["ips"]), sep="\n  ")  # fmt: skip
    say("100 ms predictions, worker 2 long paused:", sequential(flowise, "100", 8))
    say(memory([worker["name"], main["name"]]))

    log_mark = time.time()
    docker("unpause", worker["id"])
    unpaused = time.monotonic()
    statuses, most_active = burst(flowise, "3000", 12)
    say(
        f"worker 2 unpaused: 12 x 3 s at once: statuses {set(statuses)}, most active at once "
        f"{most_active} (> 2: worker 2 took jobs) in {time.monotonic() - unpaused:.1f}s"
    )
    say("worker 2 Redis clients, unpaused:", *redis_clients(flowise, worker["ips"]), sep="\n  ")
    print(docker_logs(worker["id"], log_mark), flush=True)

    docker("unpause", main["id"])
    unpaused = time.monotonic()
    while "healthy" not in health(main["id"]).split("health=")[1][:8]:
        time.sleep(0.2)
    say(f"main 2 unpaused; healthy after {time.monotonic() - unpaused:.1f}s: {health(main['id'])}")
    direct = subprocess.run(["docker", "exec", main["id"], "curl", "-sS", "-o", "/dev/null", "-w",
                             "%{http_code} %{time_total}", "http://127.0.0.1:3000/api/v1/ping"],
                            capture_output=True, text=True)  # fmt: skip
    say(f"main 2 answers its ping at once: {direct.stdout}")
    scaler.reconcile(scaler.snapshot())
    say("pings through nginx, main 2 routed again:", ping_through_nginx(flowise, 4))
    print(docker_logs(main["id"], log_mark)[-3000:], flush=True)
    statuses, _ = burst(flowise, "500", 20)
    say(f"20 x 0.5 s after both unpaused: statuses {set(statuses)}")
    stalled = flowise.redis().keys("bull:flowise-queue-prediction:stalled*")
    say("stalled keys:", stalled, [flowise.redis().type(k) for k in stalled])
    say("failed jobs:", flowise.redis().zcard("bull:flowise-queue-prediction:failed"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pause-seconds", type=float, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running_real_flowise(Path(folder)) as flowise:
        say("stack up")
        probe(flowise, args.pause_seconds)


if __name__ == "__main__":
    main()
