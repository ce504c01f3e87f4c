"""How long scaling takes through compose-flowise, next to a plain `docker compose up --scale`.

Runs on the real engine with the local images (.ci/build-images), 3 rounds each, and prints
medians and ratios measured in this same run:
- scale-out: from the decision until the new replica answers through nginx (ours), against
  `docker compose up --scale N+1 --wait` until the container is healthy (plain compose leaves
  nginx as it was: the new replica gets no traffic at all);
- scale-in: drain-then-stop of a replica with requests in flight (ours), against
  `docker compose up --scale N-1`, which stops the highest-numbered replica at once while
  nginx still routes to it. The requests cut on the way are counted too.

Usage: python bench/actuation.py  (needs the package installed and a running Docker engine)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from harness import Load, Stack, running_stack

ROUNDS = 3
HOLD_MS = 1500


def serving_from(stack: Stack, hostname: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.post(f"{stack.http_url}/hold?ms=0", timeout=10).json()["hostname"] == hostname:
            return
    raise RuntimeError(f"{hostname} never answered through nginx")


def ours_scale_out(stack: Stack) -> float:
    scaler = stack.scaler()
    snapshot = scaler.snapshot()
    started = time.monotonic()
    outcome = scaler.scale("flowise", len(snapshot["flowise"]) + 1, snapshot)
    new = next(r for r in scaler.snapshot()["flowise"] if r.name == outcome.added[0])
    serving_from(stack, new.id[:12])
    return time.monotonic() - started


def plain_scale_out(stack: Stack) -> float:
    count = len(stack.running("flowise"))
    started = time.monotonic()
    stack.docker.compose.up(services=["flowise"], scales={"flowise": count + 1}, detach=True,
                            recreate=False, dependencies=False, wait=True, quiet=True)  # fmt: skip
    took = time.monotonic() - started
    stack.scaler().reconcile(stack.scaler().snapshot())  # route to it, as a hand-made setup would
    return took


def ours_scale_in(stack: Stack) -> tuple[float, int]:
    scaler = stack.scaler()
    with Load(stack.http_url, HOLD_MS, clients=4) as load:
        time.sleep(2)
        snapshot = scaler.snapshot()
        started = time.monotonic()
        scaler.scale("flowise", len(snapshot["flowise"]) - 1, snapshot)
        took = time.monotonic() - started
    return took, len(load.failures)


def plain_scale_in(stack: Stack) -> tuple[float, int]:
    count = len(stack.running("flowise"))
    with Load(stack.http_url, HOLD_MS, clients=4) as load:
        time.sleep(2)
        started = time.monotonic()
        stack.docker.compose.up(services=["flowise"], scales={"flowise": count - 1}, detach=True,
                                recreate=False, dependencies=False, quiet=True)  # fmt: skip
        took = time.monotonic() - started
    stack.scaler().reconcile(stack.scaler().snapshot())
    return took, len(load.failures)


def main() -> None:
    results: dict[str, list] = {key: [] for key in ("out", "plain_out", "in", "plain_in")}
    with tempfile.TemporaryDirectory() as folder, running_stack(Path(folder)) as stack:
        scaler = stack.scaler()
        scaler.scale("flowise", 2, scaler.snapshot())
        for _ in range(ROUNDS):
            results["plain_out"].append(plain_scale_out(stack))  # 2 -> 3, nginx untouched
            results["plain_in"].append(plain_scale_in(stack))  # 3 -> 2
            results["out"].append(ours_scale_out(stack))  # 2 -> 3, routed
            results["in"].append(ours_scale_in(stack))  # 3 -> 2, drained
    out, plain_out = statistics.median(results["out"]), statistics.median(results["plain_out"])
    took_in = statistics.median(t for t, _ in results["in"])
    plain_in = statistics.median(t for t, _ in results["plain_in"])
    cut_in = sum(f for _, f in results["in"])
    cut_plain = sum(f for _, f in results["plain_in"])
    print(
        f"scale-out, decision -> serving through nginx: {out:6.2f} s  "
        f"(plain compose, healthy but not routed: {plain_out:6.2f} s; ratio {out / plain_out:.2f})"
    )
    print(
        f"scale-in, drain then stop:                   {took_in:6.2f} s  "
        f"(plain compose, stop at once: {plain_in:6.2f} s; ratio {took_in / plain_in:.2f})"
    )
    print(
        f"requests cut during {ROUNDS} scale-ins:           ours {cut_in}, plain compose {cut_plain}"
    )


if __name__ == "__main__":
    main()
