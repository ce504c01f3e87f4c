"""`compose-flowise simulate`: its output, and a clear exit 2 on bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from autoscaler.cli import main

POLICIES = ["compose-flowise", "keda", "kpa", "keda-wait-only", "oracle"]
FIELDS = [
    "replica_seconds",
    "slo_violation_seconds",
    "p95_wait_seconds",
    "scale_changes",
    "max_replicas",
]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("[daemon]\ninterval_seconds = 10\n")
    return path


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    path = tmp_path / "trace.csv"
    rows = [f"{second},{10 if second < 60 else 30}" for second in range(120)]
    path.write_text("second,arrivals\n" + "\n".join(rows) + "\n")
    return path


def simulate(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_every_policy_and_figure(capsys, config_file, trace_file):
    code, out, _ = simulate(
        capsys, "--trace", str(trace_file), "--config", str(config_file), "--json"
    )
    report = json.loads(out)
    assert code == 0
    assert report["trace"] == str(trace_file)
    assert list(report["policies"]) == POLICIES
    assert all(list(figures) == FIELDS for figures in report["policies"].values())
    # 60 s of 10 and 60 s of 30 jobs of K / C = 2 s, over K = 10 slots per replica.
    assert report["lower_bound_replica_seconds"] == (60 * 10 + 60 * 30) * 2 // 10


def test_min_and_max_bound_every_policy(capsys, config_file, trace_file):
    code, out, _ = simulate(
        capsys,
        "--trace",
        str(trace_file),
        "--config",
        str(config_file),
        "--min",
        "2",
        "--max",
        "3",
        "--json",
    )
    peaks = [figures["max_replicas"] for figures in json.loads(out)["policies"].values()]
    assert (code, peaks) == (0, [3] * len(POLICIES))


def test_table_names_the_policies_and_the_model(capsys, config_file, trace_file):
    code, out, _ = simulate(
        capsys,
        "--trace",
        str(trace_file),
        "--config",
        str(config_file),
        "--concurrency",
        "8",
        "--capacity",
        "4",
        "--startup",
        "30",
        "--slo",
        "5",
    )
    assert code == 0
    assert "jobs of 2 s; 8 slots per replica, startup 30 s, SLO 5 s" in out
    assert all(name in out for name in [*POLICIES, "lower bound"])


@pytest.mark.parametrize(
    "trace_text, extra, message",
    [
        (None, [], "cannot read the trace"),
        ("second,arrivals\n0,1\n1;2\n", [], "line 3: expected `second,arrivals`"),
        ("0,1,x\n", [], "line 1: expected job_seconds to be a number"),
        ("0,1\n", ["--min", "5", "--max", "2"], "min replicas (5) must not be above max"),
    ],
    ids=["missing-file", "malformed-row", "bad-job-seconds", "min-above-max"],
)
def test_bad_input_exits_2_with_a_message(
    capsys, tmp_path, config_file, trace_text, extra, message
):
    trace = tmp_path / "given.csv"
    if trace_text is not None:
        trace.write_text(trace_text)
    code, out, err = simulate(capsys, "--trace", str(trace), "--config", str(config_file), *extra)
    assert (code, out) == (2, "")
    assert "Traceback" not in err
    assert any(line.startswith("error: ") and message in line for line in err.splitlines())


def test_a_config_without_a_queue_signal_exits_2(capsys, tmp_path, trace_file):
    config = tmp_path / "config.toml"
    in_flight = 'signals = [{kind = "nginx_in_flight", target_per_replica = 5}]\n'
    config.write_text(f"[services.web]\n{in_flight}[services.flowise-worker]\n{in_flight}")
    code, _, err = simulate(capsys, "--trace", str(trace_file), "--config", str(config))
    assert code == 2 and "no service with a bullmq_queue signal" in err


@pytest.mark.parametrize(
    "option, value",
    [
        ("--capacity", "0"),
        ("--capacity", "inf"),
        ("--slo", "nan"),
        ("--concurrency", "0"),
        ("--startup", "-1"),
        ("--max", "x"),
    ],
    ids=[
        "capacity-zero",
        "capacity-infinite",
        "slo-not-a-number",
        "concurrency-zero",
        "startup-negative",
        "max-not-a-number",
    ],
)
def test_bad_numbers_are_usage_errors(capsys, trace_file, option, value):
    with pytest.raises(SystemExit) as exit:
        main(["simulate", "--trace", str(trace_file), option, value])
    assert exit.value.code == 2 and option in capsys.readouterr().err


def test_json_has_each_policy_second_by_second(capsys, config_file, trace_file):
    code, out, _ = simulate(
        capsys, "--trace", str(trace_file), "--config", str(config_file), "--json"
    )
    report = json.loads(out)
    assert code == 0
    assert report["series"]["arrivals"] == [10] * 60 + [30] * 60
    assert list(report["series"]["policies"]) == POLICIES
    for name, series in report["series"]["policies"].items():
        summary = report["policies"][name]
        seconds = len(series["replicas"])
        assert seconds >= 120, "the run goes on until every job is done"
        assert all(len(values) == seconds for values in series.values())
        assert max(series["replicas"]) == summary["max_replicas"]
        assert all(
            ready <= asked for ready, asked in zip(series["ready"], series["replicas"], strict=True)
        )
        over_slo = sum(wait > 10 for wait in series["queue_wait_seconds"])
        assert over_slo == summary["slo_violation_seconds"], name


def test_chart_draws_load_replicas_and_wait_into_a_png(capsys, config_file, trace_file, tmp_path):
    image = pytest.importorskip("matplotlib.image", reason="the `chart` extra is not installed")
    picture = tmp_path / "charts" / "run.png"
    code, out, _ = simulate(
        capsys, "--trace", str(trace_file), "--config", str(config_file), "--chart", str(picture)
    )
    assert code == 0
    assert "compose-flowise" in out, "the table is printed as well"
    pixels = image.imread(picture)
    height, width = pixels.shape[:2]
    assert (width, height) == (1200, 900)
    assert len({tuple(pixel) for pixel in pixels[::7, ::7].reshape(-1, pixels.shape[2])}) > 10, (
        "not blank"
    )


def test_chart_without_the_extra_names_it(capsys, config_file, trace_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    picture = tmp_path / "run.png"
    code, _, err = simulate(
        capsys, "--trace", str(trace_file), "--config", str(config_file), "--chart", str(picture)
    )
    assert code == 1
    assert "pip install 'compose-flowise[chart]'" in err
    assert "Traceback" not in err
    assert not picture.exists()
