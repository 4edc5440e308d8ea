"""`cadenza load --via api` as a user runs it: the CLI in a process of its own, the Order API in another (as `cadenza
up` runs it), the real stack behind. The CLI is given no reachable Temporal, so every order it reports can only have
gone through the API; outcomes are checked on the services' own records (`cadenza audit`)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from cadenza.processes import ChildProcess, free_port, http_ok
from clients.api_keys import KeyStoreSettings, load_key_store
from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningApi:
    url: str
    key: str
    """Scopes orders:write and orders:read, bound to no customer: what the load needs."""
    read_only_key: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def running_api(harness: Harness, tmp_path_factory) -> AsyncIterator[RunningApi]:
    state = tmp_path_factory.mktemp("api-state")
    keys = load_key_store(KeyStoreSettings(state_dir=state))
    key, _ = keys.create(name="load", scopes=["orders:write", "orders:read"])
    read_only, _ = keys.create(name="reader", scopes=["orders:read"])
    port = free_port()
    env = {
        **harness.config.client_env(),
        "CADENZA_STATE_DIR": str(state),
        "CADENZA_API_RATE_LIMIT": "off",
        "CADENZA_API_KEYS_FILE": "",
        "CADENZA_API_KEYS": "",
    }
    child = ChildProcess("api", [sys.executable, "-m", "api", "--port", str(port)], state / "api.log", env=env)
    child.start()
    try:
        await child.wait_until(http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=30)
        yield RunningApi(f"http://127.0.0.1:{port}", key, read_only)
    finally:
        child.stop()


async def _cadenza(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # In a thread: the harness's worker runs on this event loop and must keep serving while the CLI waits.
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starters.cli", *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )


def _without_temporal(harness: Harness) -> dict[str, str]:
    """The stack's environment for the CLI, but with a Temporal address where nothing listens."""
    return {**harness.config.client_env(), "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "CADENZA_API_KEY": ""}


async def test_load_via_api_places_every_order_through_the_api_and_reports_it(
    harness: Harness, running_api: RunningApi, tmp_path: Path
):
    report_file = tmp_path / "load.json"
    env = {**_without_temporal(harness), "CADENZA_API_KEY": running_api.key}

    load = await _cadenza(
        [
            "load",
            "--via",
            "api",
            "--api-url",
            running_api.url,
            "--orders",
            "10",
            "--concurrency",
            "5",
            "--json",
            str(report_file),
        ],
        env,
    )

    assert load.returncode == 0, load.stdout + load.stderr
    assert f"through the Order API at {running_api.url}" in load.stdout
    report = json.loads(report_file.read_text())
    assert report["errors"] == [] and report["unfinished"] == {}
    outcomes = report["outcomes"]
    # The seeded mix of 10 has declined cards or out-of-stock lines as well as good orders: both ends are exercised.
    assert outcomes.get("completed", 0) > 0 and outcomes.get("compensated", 0) > 0, outcomes
    assert outcomes["completed"] + outcomes["compensated"] == 10
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"]
    audit = await _cadenza(["audit", "--prefix", f"load-{report['run_id']}"], harness.config.client_env())
    assert audit.returncode == 0, audit.stdout
    assert "Audited 10 orders" in audit.stdout  # they exist in Temporal and match the services' records


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unreachable", ["Cannot reach the Order API", "cadenza up", "--api-url"]),
        ("unknown key", ["refused the key", "401", "cadenza api-key create"]),
        ("no write scope", ["refused the key", "403", "orders:write", "cadenza api-key create"]),
    ],
)
async def test_load_via_api_stops_before_placing_anything_and_says_what_to_do(
    harness: Harness, running_api: RunningApi, case: str, expected: list[str]
):
    url, key = {
        "unreachable": (f"http://127.0.0.1:{free_port()}", running_api.key),
        "unknown key": (running_api.url, "cdz_" + "x" * 43),
        "no write scope": (running_api.url, running_api.read_only_key),
    }[case]
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    load = await _cadenza(
        ["load", "--via", "api", "--api-url", url, "--api-key", key, "--orders", "3"], _without_temporal(harness)
    )

    assert load.returncode == 1, load.stdout + load.stderr
    for text in (*expected, "Nothing was placed"):
        assert text in load.stderr, load.stderr
    placed = f'WorkflowId STARTS_WITH "order-load-" AND StartTime > "{started}"'
    assert [execution.id async for execution in harness.client.list_workflows(placed)] == []


async def test_load_via_api_without_a_key_is_refused_as_bad_input(harness: Harness, running_api: RunningApi):
    load = await _cadenza(["load", "--via", "api", "--api-url", running_api.url], _without_temporal(harness))

    assert load.returncode == 2, load.stdout + load.stderr
    assert "--api-key" in load.stderr and "CADENZA_API_KEY" in load.stderr
