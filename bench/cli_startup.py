"""How fast the command line starts: `compose-flowise --help`, `--version` and `config show`
next to `docker compose version`, timed in pairs in the same run (each round times the
baseline and every command once, in an order that alternates), so the machine's load weighs
on both sides alike. Target: each under 2x the baseline (the median of the per-round ratios).

    python bench/cli_startup.py [--rounds N]

Needs the package installed (`compose-flowise` beside this Python) and Docker's compose
plugin. Replaces the cli-startup section of docs/benchmarks.md and prints it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from timing import write_section

BEGIN, END = "<!-- cli-startup:begin -->", "<!-- cli-startup:end -->"
TARGET_RATIO = 2.0
BASELINE = ("docker", "compose", "version")
COMMANDS = {"--help": ("--help",), "--version": ("--version",), "config show": ("config", "show")}
EDITED = "config show, the config edited since"
"""A reference, not a target: the first `config show` after the config (or the package)
changed validates it in full, importing the config's models."""


def seconds(command: list[str], folder: Path, cache: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, env=_environment(cache), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def _environment(cache: Path) -> dict[str, str]:
    """No config named: `config show` finds none in the empty folder, and shows the defaults;
    it keeps the config's snapshot in `cache`."""
    environment = {k: v for k, v in os.environ.items() if k != "COMPOSE_FLOWISE_CONFIG"}
    return {**environment, "XDG_CACHE_HOME": str(cache)}


def measure(rounds: int, folder: Path) -> dict[str, list[tuple[float, float]]]:
    """For each command, (its seconds, the baseline's seconds in the same round), per round."""
    program = str(Path(sys.executable).with_name("compose-flowise"))
    timed = {name: [program, *words] for name, words in COMMANDS.items()}
    timed[EDITED] = [program, "config", "show"]
    (folder / "no-cache").write_text("")  # not a folder: no snapshot is kept, none is found
    pairs: dict[str, list[tuple[float, float]]] = {name: [] for name in timed}
    for round_ in range(rounds + 1):
        order = [*timed, "baseline"][:: 1 if round_ % 2 else -1]
        spent = {
            name: seconds(timed.get(name, list(BASELINE)), folder, _cache(name, folder))
            for name in order
        }
        if round_:  # the first round warms the disk cache for both sides
            for name in timed:
                pairs[name].append((spent[name], spent["baseline"]))
    return pairs


def _cache(name: str, folder: Path) -> Path:
    return folder / ("no-cache" if name == EDITED else "cache")


def section(pairs: dict[str, list[tuple[float, float]]]) -> str:
    rounds = len(next(iter(pairs.values())))
    baseline = statistics.median(b for values in pairs.values() for _, b in values)
    lines = [
        BEGIN,
        "## Command-line start-up",
        "",
        f"From `python bench/cli_startup.py` on {datetime.now(UTC):%Y-%m-%d}, "
        f"{os.cpu_count()} cores; medians of {rounds} rounds, each timing `docker compose "
        f"version` and every command once (median {baseline * 1000:.0f} ms for the baseline). "
        f"Target: under {TARGET_RATIO:g}x the baseline, as the median of the per-round ratios.",
        "",
        "| command | ms | x `docker compose version`, same round | target met |",
        "|---|--:|--:|:-:|",
    ]
    for name, values in pairs.items():
        ratio = statistics.median(ours / base for ours, base in values)
        ms = statistics.median(ours for ours, _ in values) * 1000
        shown, met = f"`compose-flowise {name}`", "yes" if ratio < TARGET_RATIO else "no"
        if name == EDITED:
            shown, met = "`compose-flowise config show`, the config edited since", "(reference)"
        lines.append(f"| {shown} | {ms:.0f} | {ratio:.2f} | {met} |")
    lines += [
        "",
        "Only the module of the command that runs is imported: `--help` and `--version` load "
        "no config model and no Docker or Redis client. `config show` reads the config from "
        "the snapshot kept when it was last validated, while neither the file nor the package "
        "changed: no pydantic. The first one after an edit (the last row) validates the config "
        "in full, importing and building the config's models, as `config check` always does.",
        END,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        text = section(measure(args.rounds, Path(folder)))
    write_section(text, BEGIN, END)
    print(text)


if __name__ == "__main__":
    main()
