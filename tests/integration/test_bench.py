"""`cadenza bench` end to end with tiny numbers, so the command cannot rot.

Figures are checked for presence and sanity, never against targets: timings depend on the machine, a test's outcome
must not. The bench starts stacks of its own on free ports, so it runs beside the session's stack untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cadenza.codec import ENCRYPTION_KEYS, KEYS_FILE_ENV
from cadenza.decision_keys import DECISION_KEYS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PROFILES = ["direct", "floor", "cadenza", "persisted", "api", "untuned"]
POSITIVE_FIGURES = (
    "sequential_p50_ms",
    "sequential_p99_ms",
    "burst_seconds",
    "throughput",
    "burst_p50_ms",
    "burst_p99_ms",
    "worker_peak_mib",
)


def _bench(options: list[str], environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", "bench", *options],
        env={**(os.environ if environ is None else environ), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=240,
        cwd=REPO,
    )


def test_bench_reports_every_figure_of_every_profile(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = _bench(["--sequential", "3", "--burst", "10", "--warmup", "1", "--curve", "2,4", "--json", str(out)])
    assert run.returncode == 0, run.stdout + run.stderr
    titles = (
        "Latency and throughput",
        "CPU ms per order",
        "Where an order's cost goes",
        "Ratios",
        "Against the goal",
        "The Order API's cost",
        "Load curve",
    )
    for title in titles:
        assert title in run.stdout

    report = json.loads(out.read_text())
    assert report["command"].startswith("cadenza bench --sequential 3")
    assert report["machine"]["nproc"] > 0 and report["machine"]["ram_gib"] > 0 and report["machine"]["cpu_model"]
    assert [profile["profile"] for profile in report["profiles"]] == PROFILES
    for profile in report["profiles"]:
        assert (profile["sequential_orders"], profile["burst_orders"]) == (3, 10)
        for figure in POSITIVE_FIGURES:
            assert profile[figure] > 0, (profile["profile"], figure)
        assert profile["sequential_p99_ms"] >= profile["sequential_p50_ms"]
        cpu = profile["cpu_ms_per_order"]
        assert set(cpu) == {"server", "worker", "services", "api", "starter", "total"}
        assert cpu["worker"] > 0 and cpu["services"] > 0
        assert (cpu["server"] > 0) == (profile["profile"] != "direct")
        # Only the api profile runs the Order API, in a process of its own; only it has a payment-decision figure.
        assert (cpu["api"] > 0) == (profile["profile"] == "api")
        decided = profile["payment_decision_p50_ms"]
        assert (decided is not None) == (profile["profile"] == "api")
        assert cpu["total"] == pytest.approx(sum(value for role, value in cpu.items() if role != "total"))
    # The direct baseline, Temporal's floor and the untuned reference run their orders in the benchmark's own process.
    assert [profile["worker_in_starter"] for profile in report["profiles"]] == [True, True, False, False, False, True]

    # What the server recorded of each order: read from the histories of every profile that has a server.
    for profile in report["profiles"]:
        anatomy = profile["anatomy"]
        if profile["profile"] == "direct":
            assert anatomy is None
            continue
        assert anatomy["orders"] == 3 and anatomy["state_transitions"] > 0 and anatomy["workflow_tasks"] >= 1
        assert anatomy["calls"] == 5, profile["profile"]  # the five calls, batched or not
        assert anatomy["activity_tasks"] + anatomy["local_activities"] <= 5, profile["profile"]
    assert [check["profile"] for check in report["goal"]] == PROFILES[1:]
    assert all(set(check["met"]) == {"p50_ratio", "throughput_ratio", "cpu_ratio"} for check in report["goal"])

    for pair in (
        "cadenza/direct",
        "persisted/direct",
        "floor/direct",
        "cadenza/floor",
        "cadenza/untuned",
        "api/cadenza",
    ):
        assert all(value > 0 for value in report["ratios"][pair].values()), pair
    api = next(profile for profile in report["profiles"] if profile["profile"] == "api")
    assert api["payment_decision_p50_ms"] > 0 and api["payment_decision_p99_ms"] >= api["payment_decision_p50_ms"]
    front_door = report["front_door"]
    assert front_door["throughput_share"] > 0
    decided_share = api["payment_decision_p50_ms"] / api["sequential_p50_ms"]
    assert front_door["payment_decision_share"] == pytest.approx(decided_share)
    assert set(front_door["met"]) == {"p50_added_ms", "throughput_share", "payment_decision_share"}
    assert [point["in_flight"] for point in report["curve"]] == [2, 4]
    assert all(point["throughput"] > 0 and point["p99_ms"] >= point["p50_ms"] > 0 for point in report["curve"])


def test_the_declared_saga_profile_runs_the_order_saga_beside_order_workflow(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    profiles = ["--profile", "cadenza", "--profile", "declared-saga"]
    run = _bench([*profiles, "--sequential", "3", "--burst", "5", "--warmup", "1", "--json", str(out)])
    assert run.returncode == 0, run.stdout + run.stderr
    cadenza, saga = json.loads(out.read_text())["profiles"]
    assert (cadenza["profile"], saga["profile"]) == ("cadenza", "declared-saga")
    # Read from the saga runs' own histories (their workflow ids are not OrderWorkflow's): the same five calls.
    assert saga["anatomy"]["calls"] == 5
    assert saga["cpu_ms_per_order"]["worker"] > 0


def test_the_in_process_profile_runs_in_a_shell_without_keys(tmp_path: Path) -> None:
    """A newcomer's shell has no encryption or decision keys: each profile's stack makes its own, and a worker in the
    bench's own process must check decisions with the stack's keys, as the stack's worker process does."""
    keyless = {
        name: value
        for name, value in os.environ.items()
        if name not in {DECISION_KEYS.keys_env, DECISION_KEYS.file_env, ENCRYPTION_KEYS.keys_env, KEYS_FILE_ENV}
    }
    out = tmp_path / "bench.json"
    run = _bench(
        ["--profile", "cadenza-in-process", "--sequential", "2", "--burst", "3", "--warmup", "1", "--json", str(out)],
        keyless,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    (profile,) = json.loads(out.read_text())["profiles"]
    assert profile["profile"] == "cadenza-in-process" and profile["worker_in_starter"]
    assert profile["anatomy"]["calls"] == 5
