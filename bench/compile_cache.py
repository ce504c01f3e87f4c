"""Where a Flowise start goes, and what Node's compile cache saves of it: the module loading of
`flowise start` and `flowise worker` (the commands, hence the whole server, then every component
node through NodesPool; images/flowise/compile-cache.js), timed in the local image
(.ci/build-flowise-image) with its baked cache and with the cache turned off
(NODE_DISABLE_COMPILE_CACHE=1), alternately, in the same run. No network, no database: the rest
of a start (database, Redis, queues) takes well under a second (docs/warm-replicas.md).

Writes the section between <!-- compile-cache:begin --> and <!-- compile-cache:end --> of
docs/benchmarks.md and prints it. About 5 minutes.

Usage: python bench/compile_cache.py [--rounds N]
"""

from __future__ import annotations

import argparse
import datetime
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
from real_flowise_stack import flowise_image  # noqa: E402
from timing import write_section  # noqa: E402

BEGIN, END = "<!-- compile-cache:begin -->", "<!-- compile-cache:end -->"
SCRIPT = REPO / "images" / "flowise" / "compile-cache.js"
LOADED = re.compile(r"commands ([\d.]+) s, nodes ([\d.]+) s, cache (\S+)")


def load_once(image: str, cached: bool) -> tuple[float, float, str]:
    """(commands, nodes) seconds of one loading in a fresh container, and the cache used."""
    env = [] if cached else ["-e", "NODE_DISABLE_COMPILE_CACHE=1"]
    command = [
        "docker", "run", "--rm", "--network", "none", *env,
        "-v", f"{SCRIPT}:/tmp/compile-cache.js:ro", "-w", "/opt/flowise",
        "-e", "NODE_PATH=/opt/flowise/node_modules", "--entrypoint", "node", image,
        "/tmp/compile-cache.js",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = LOADED.search(output)
    if not found:
        raise RuntimeError(f"no timing in the output: {output[-500:]}")
    return float(found[1]), float(found[2]), found[3]


def section(results: dict[bool, list], image: str, rounds: int) -> str:
    def median(cached: bool, index: int) -> str:
        return f"{statistics.median(r[index] for r in results[cached]):.1f}"

    def total(cached: bool) -> str:
        return f"{statistics.median(r[0] + r[1] for r in results[cached]):.1f}"

    rows = [
        ("the commands' modules (the whole server) (s)", median(True, 0), median(False, 0)),
        ("every component node (NodesPool) (s)", median(True, 1), median(False, 1)),
        ("module loading in all (s)", total(True), total(False)),
    ]
    return "\n".join([
        BEGIN,
        "## Cold starts: Node's compile cache baked into the Flowise image",
        "",
        f"Written by `python bench/compile_cache.py`; edit that, not this. Run on "
        f"{datetime.date.today().isoformat()} on the 2-core machine, {rounds} fresh containers "
        f"each way, alternately (medians), of `{image}`: what `flowise start` and `flowise "
        "worker` load before they connect anywhere (images/flowise/compile-cache.js), with the "
        "cache .ci/build-flowise-image baked into the image (`NODE_COMPILE_CACHE`) and with it "
        "turned off (`NODE_DISABLE_COMPILE_CACHE=1`), the image as it was before.",
        "",
        "| module loading | compile cache | no cache (before) |",
        "|---|--:|--:|",
        *(f"| {name} | {cached} | {cold} |" for name, cached, cold in rows),
        "",
        "Here each container had the 2 cores nearly to itself. In the running stack (2 mains, "
        "Postgres, Redis, other engineers' stacks on the same cores) the same loading took "
        "28-38 s before a new worker's first log line, and 40-47 s until its queue connection "
        "(docs/warm-replicas.md): the cache saves about a seventh of the loading, a warm "
        "replica all of it.",
        END,
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    image = flowise_image()
    results: dict[bool, list] = {True: [], False: []}
    for round_ in range(args.rounds):
        for cached in (False, True):
            results[cached].append(load_once(image, cached))
            print(f"round {round_ + 1}, cached {cached}: {results[cached][-1]}", file=sys.stderr)
    if any(r[2] == "none" for r in results[True]):
        raise RuntimeError("the image has no compile cache: run .ci/build-flowise-image")
    text = section(results, image, args.rounds)
    write_section(text, BEGIN, END)
    print(text)


if __name__ == "__main__":
    main()
