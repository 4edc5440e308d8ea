"""The benchmark's arithmetic and option checks, without starting anything."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent, MarkerRecordedEventAttributes

from cadenza.connection import data_converter
from cadenza.stack import EmbeddedStack
from starters.bench.anatomy import LOCAL_ACTIVITY_MARKER, _count
from starters.bench.cpu_profile import OTHER, parse_collapsed
from starters.bench.load import Burst, Latencies, percentile, run_sequential
from starters.bench.profiles import DEFAULT_PROFILES, PROFILES
from starters.bench.report import RATIO_PAIRS, FrontDoor, GoalCheck, ProfileResult, ratios
from starters.bench.rig import stack_config
from starters.bench.runner import BadBenchOptions, BenchOptions
from starters.bench.workload import OrderSource
from starters.history_files import load_history

HISTORIES = Path(__file__).resolve().parents[1] / "histories"

REPO = Path(__file__).resolve().parents[2]


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) == 0.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(range(1, 101)), 0.99) == pytest.approx(99.01)


def _result(
    profile: str, p50: float, throughput: float, worker_ms: float, payment_decision_p50: float | None = None
) -> ProfileResult:
    burst = Burst(orders=10, elapsed_s=10 / throughput, latencies=Latencies((p50,)))
    cpu = {"server": 0.0, "worker": worker_ms * 10 / 1000, "services": 0.0, "starter": 0.0}
    decisions = None if payment_decision_p50 is None else Latencies((payment_decision_p50,))
    return ProfileResult.of(
        profile, "", Latencies((p50,)), burst, cpu, 100.0, worker_in_starter=False, payment_decision=decisions
    )


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


def test_the_front_door_is_priced_against_the_cadenza_profile_of_the_same_run() -> None:
    cadenza, api = _result("cadenza", 50, 30, 20), _result("api", 54, 28.5, 20, payment_decision_p50=30)

    front_door = FrontDoor.of([cadenza, api])

    assert front_door is not None
    assert front_door.p50_added_ms == pytest.approx(4.0)
    assert front_door.throughput_share == pytest.approx(0.95)
    assert front_door.payment_decision_share == pytest.approx(30 / 54)  # against the api profile's own full order
    assert front_door.verdicts() == {"p50_added_ms": True, "throughput_share": True, "payment_decision_share": True}
    assert ratios([cadenza, api])["api/cadenza"]["throughput"] == pytest.approx(0.95)


def test_the_goal_compares_every_profile_with_direct_against_issue_26s_thresholds() -> None:
    # direct: p50 10 ms, 100 orders/s, 5 ms of CPU per order; _result puts all CPU in the worker.
    direct, near, far = _result("direct", 10, 100, 5), _result("cadenza", 20, 50, 10), _result("persisted", 21, 49, 11)

    checks = {check.profile: check for check in GoalCheck.all_of([direct, near, far])}

    assert set(checks) == {"cadenza", "persisted"}
    assert (checks["cadenza"].p50_ratio, checks["cadenza"].throughput_ratio) == pytest.approx((2.0, 0.5))
    assert checks["cadenza"].cpu_ratio == pytest.approx(2.0)
    assert checks["cadenza"].verdicts() == {"p50_ratio": True, "throughput_ratio": True, "cpu_ratio": True}
    assert checks["persisted"].verdicts() == {"p50_ratio": False, "throughput_ratio": False, "cpu_ratio": False}
    assert GoalCheck.all_of([near]) == []


def test_the_persisted_profile_keeps_the_dev_servers_history_on_disk_and_cadenza_in_memory(tmp_path: Path) -> None:
    def argv(profile: str) -> list[str]:
        config = stack_config(PROFILES[profile], tmp_path / profile, "run")
        return EmbeddedStack(config).temporal_argv()

    persisted, in_memory = argv("persisted"), argv("cadenza")

    assert persisted[persisted.index("--db-filename") + 1] == str(tmp_path / "persisted" / "temporal.db")
    assert "--db-filename" not in in_memory
    # The SQLite file in write-ahead-log mode, every commit still synced (cadenza.stack.SQLITE_PRAGMAS).
    pragmas = [persisted[i + 1] for i, arg in enumerate(persisted) if arg == "--sqlite-pragma"]
    assert pragmas == ["journal_mode=wal", "synchronous=full"]
    assert "--sqlite-pragma" not in in_memory

    # Otherwise the same server: the same dynamic config, so the two rows differ by the database alone.
    def dynamic_config(argv: list[str]) -> list[str]:
        return [argv[i + 1] for i, arg in enumerate(argv) if arg == "--dynamic-config-value"]

    assert dynamic_config(persisted) == dynamic_config(in_memory) != []
    assert "persisted" in DEFAULT_PROFILES


def test_the_floor_runs_by_default_beside_cadenza_and_is_priced_against_both() -> None:
    # A goal stated against `direct` is read beside what Temporal alone costs (starters/bench/floor.py).
    assert DEFAULT_PROFILES[:3] == ("direct", "floor", "cadenza")
    assert ("floor", "direct") in RATIO_PAIRS and ("cadenza", "floor") in RATIO_PAIRS
    floor = PROFILES["floor"]
    assert floor.floor and floor.worker_in_starter and not floor.traced and not floor.encrypted


async def test_the_anatomy_counts_what_the_server_recorded() -> None:
    def event(kind: int, marker: str = "") -> HistoryEvent:
        attributes = {"marker_recorded_event_attributes": MarkerRecordedEventAttributes(marker_name=marker)}
        return HistoryEvent(event_type=kind, **(attributes if marker else {}))  # type: ignore[arg-type]

    counts = await _count(
        data_converter(),
        [
            event(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED),
            event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
            event(EventType.EVENT_TYPE_MARKER_RECORDED, "core_patch"),
            event(EventType.EVENT_TYPE_MARKER_RECORDED, LOCAL_ACTIVITY_MARKER),
            event(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
            event(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED),
            event(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
        ],
    )

    assert counts == {
        "events": 7,
        "workflow_tasks": 2,
        "local_activities": 1,
        "activity_tasks": 1,
        "calls": 2,
        "upserts": 1,
    }


async def test_the_anatomy_counts_each_call_of_a_batch_of_first_attempts() -> None:
    # A happy order recorded since first-attempts-together: one local activity, its five calls (read from its
    # encrypted result with the test key the replay tests hold).
    history = load_history(HISTORIES / "first-attempts-together" / "happy_path.json")
    counts = await _count(data_converter(), history.events)
    assert counts["local_activities"] == 1 and counts["calls"] == 5 and counts["events"] == 9


def test_worker_samples_are_named_by_their_innermost_part() -> None:
    collapsed = "\n".join(
        [
            "run (asyncio/base_events.py:1);_activate (temporalio/worker/_workflow_instance.py:9);"
            "validate (pydantic/main.py:3) 7",
            "run (asyncio/base_events.py:1);start_span (opentelemetry/trace/__init__.py:2);"
            "send (httpcore/_async/connection.py:4) 5",
            "run (asyncio/base_events.py:1);start_span (opentelemetry/trace/__init__.py:2) 3",
            "<module> (x.py:1) 1",
            "<module> (x.py:1);run (asyncio/base_events.py:1);select (selectors.py:468) 50",
            "Thread._bootstrap (threading.py:1002);_worker (concurrent/futures/thread.py:81) 40",
            " 30",
            "garbage",
        ]
    )

    assert parse_collapsed(collapsed) == {
        "conversion (pydantic, payloads)": 7,
        "HTTP (httpx, httpcore, h11)": 5,
        "tracing (OpenTelemetry)": 3,
        OTHER: 1,
    }


def test_the_front_door_fails_its_targets_when_the_api_costs_too_much() -> None:
    slow = FrontDoor.of([_result("cadenza", 50, 30, 20), _result("api", 56, 26, 20, payment_decision_p50=34)])
    assert slow is not None
    assert slow.verdicts() == {"p50_added_ms": False, "throughput_share": False, "payment_decision_share": False}


def test_no_front_door_figures_without_both_profiles() -> None:
    assert FrontDoor.of([_result("cadenza", 50, 30, 20)]) is None
    assert FrontDoor.of([_result("api", 54, 28, 20, payment_decision_p50=30)]) is None


async def test_each_order_settles_before_the_next_and_settling_is_not_timed() -> None:
    events: list[str] = []

    async def answer(order: object) -> None:
        events.append(f"answer {order.order_id}")  # type: ignore[attr-defined]
        await asyncio.sleep(0.01)

    async def settle(order: object) -> None:
        await asyncio.sleep(0.2)
        events.append(f"settled {order.order_id}")  # type: ignore[attr-defined]

    latencies = await run_sequential(answer, OrderSource("t").take(2), settle=settle)  # type: ignore[arg-type]

    assert events == ["answer bench-t-1", "settled bench-t-1", "answer bench-t-2", "settled bench-t-2"]
    assert len(latencies.samples_ms) == 2 and max(latencies.samples_ms) < 150


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profiles": ("fast",)}, "unknown profile fast"),
        ({"burst": 0}, "at least 1"),
        ({"curve": (10,), "profiles": ("direct",)}, "add --profile cadenza"),
        ({"profile_worker": Path("w.txt"), "profiles": ("direct",)}, "add --profile cadenza"),
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
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert run.returncode == 2
    assert "whole numbers separated by commas" in run.stderr


async def test_the_anatomy_counts_each_call_of_a_declared_sagas_batch_too() -> None:
    # A happy order saga recorded since saga-first-attempts-together: one local activity, its five calls.
    history = load_history(HISTORIES / "declared-sagas-first-attempts-together" / "order_completed.json")
    counts = await _count(data_converter(), history.events)
    assert counts["local_activities"] == 1 and counts["calls"] == 5 and counts["events"] == 9
