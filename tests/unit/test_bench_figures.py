"""The benchmark's arithmetic and option checks, without starting anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from starters.bench.load import Burst, Latencies, percentile
from starters.bench.report import ProfileResult, ratios
from starters.bench.runner import BadBenchOptions, BenchOptions

REPO = Path(__file__).resolve().parents[2]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(range(1, 101)), 0.99) == pytest.approx(99.01)


def _result(profile: str, p50: float, throughput: float, worker_ms: float) -> ProfileResult:
    burst = Burst(orders=10, elapsed_s=10 / throughput, latencies=Latencies((p50,)))
    cpu = {"server": 0.0, "worker": worker_ms * 10 / 1000, "services": 0.0, "starter": 0.0}
    return ProfileResult.of(profile, "", Latencies((p50,)), burst, cpu, 100.0, worker_in_starter=False)


def test_ratios_compare_cadenza_with_the_baseline_and_the_untuned_reference() -> None:
    table = ratios([_result("direct", 10, 100, 5), _result("cadenza", 50, 20, 20), _result("untuned", 200, 10, 40)])
    assert table["cadenza/direct"]["sequential_p50_ms"] == pytest.approx(5.0)
    assert table["cadenza/untuned"]["throughput"] == pytest.approx(2.0)
    assert table["cadenza/untuned"]["cpu_worker_ms_per_order"] == pytest.approx(0.5)
    assert table["cadenza/direct"]["cpu_total_ms_per_order"] == pytest.approx(4.0)


def test_a_ratio_over_zero_is_none_rather_than_a_crash() -> None:
    table = ratios([_result("direct", 10, 100, 0), _result("cadenza", 50, 20, 20)])
    assert table["cadenza/direct"]["cpu_worker_ms_per_order"] is None


def test_ratios_skip_pairs_that_did_not_run() -> None:
    assert ratios([_result("cadenza", 50, 20, 20)]) == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profiles": ("fast",)}, "unknown profile fast"),
        ({"burst": 0}, "at least 1"),
        ({"curve": (10,), "profiles": ("direct",)}, "add --profile cadenza"),
    ],
)
def test_bad_options_say_what_to_pass_instead(options: dict, message: str) -> None:
    with pytest.raises(BadBenchOptions, match=message):
        BenchOptions(**options)


def test_curve_levels_are_parsed_or_refused() -> None:
    assert BenchOptions.parse_curve("10, 100,1000") == (10, 100, 1000)
    assert BenchOptions.parse_curve(None) == ()
    with pytest.raises(BadBenchOptions, match="whole numbers"):
        BenchOptions.parse_curve("10,lots")


def test_the_command_refuses_bad_input_with_exit_2_before_starting_anything() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "starters.cli", "bench", "--curve", "10,lots"],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )
    assert run.returncode == 2
    assert "whole numbers separated by commas" in run.stderr
