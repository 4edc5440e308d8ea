"""Fault injection: outages, rate limits, latency, commit-then-stall, wait-then-commit, scripts, the admin API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from services.common.faults import FaultConfig, ScriptedFault
from tests.services.service_helpers import ClientFactory, charge_body, error_code, key, order_body, reservation_body
from tests.services.test_service_cli import REPO_ROOT, free_port, wait_for_health


async def charges_of(client: httpx.AsyncClient) -> list[dict[str, object]]:
    charges: list[dict[str, object]] = (await client.get("/charges")).json()["charges"]
    return charges


async def test_injected_error_is_503_and_applies_nothing(make_client: ClientFactory) -> None:
    client = make_client("payment", faults=FaultConfig(error_rate=1.0))

    response = await client.post("/charges", json=charge_body(), headers=key("k-1"))

    assert response.status_code == 503
    assert error_code(response) == "service_unavailable"
    assert await charges_of(client) == []  # reads are never faulted, so the audit works
    await client.put("/admin/faults", json={})
    retry = await client.post("/charges", json=charge_body(), headers=key("k-1"))
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers  # the 503 was not stored under the key


async def test_injected_rate_limit_is_429_with_retry_after(make_client: ClientFactory) -> None:
    client = make_client("inventory", faults=FaultConfig(rate_limit=1.0, retry_after_s=2.5))

    response = await client.post("/reservations", json=reservation_body(), headers=key("k-1"))

    assert response.status_code == 429
    assert error_code(response) == "rate_limited"
    assert response.headers["Retry-After"] == "2.5"
    assert response.json()["error"]["retry_after_s"] == 2.5
    assert (await client.get("/reservations")).json()["reservations"] == []
    assert (await client.get("/stock/SKU-BOOK")).json()["reserved"] == 0


async def test_latency_applies_to_reads_and_writes(make_client: ClientFactory) -> None:
    client = make_client("erp", faults=FaultConfig(latency_ms=150))

    started = time.monotonic()
    await client.get("/orders")
    await client.post("/orders", json=order_body())
    elapsed = time.monotonic() - started

    assert elapsed >= 0.3


async def test_admin_routes_are_never_faulted(make_client: ClientFactory) -> None:
    client = make_client("erp", faults=FaultConfig(error_rate=1.0, rate_limit=1.0, latency_ms=2000))

    started = time.monotonic()
    responses = [
        await client.get("/admin/stats"),
        await client.get("/admin/faults"),
        await client.put("/admin/faults", json={}),
    ]

    assert [response.status_code for response in responses] == [200, 200, 200]
    assert time.monotonic() - started < 1.0


async def test_stall_commits_then_times_out_and_the_retry_replays(make_client: ClientFactory) -> None:
    client = make_client("payment", faults=FaultConfig(stall_rate=1.0, stall_ms=300))

    with pytest.raises(TimeoutError):
        # The caller gives up before the answer arrives, as a real client timeout would.
        await asyncio.wait_for(client.post("/charges", json=charge_body(), headers=key("k-1")), timeout=0.1)

    charges = await charges_of(client)
    assert len(charges) == 1 and charges[0]["status"] == "succeeded"  # the effect committed anyway
    await client.put("/admin/faults", json={})
    retry = await client.post("/charges", json=charge_body(), headers=key("k-1"))
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == charges[0]["id"]
    assert len(await charges_of(client)) == 1
    assert (await client.get("/admin/stats")).json()["stalls_injected"] == 1


async def test_a_patient_caller_gets_the_stalled_answer(make_client: ClientFactory) -> None:
    client = make_client("erp", faults=FaultConfig(script=[ScriptedFault(kind="stall")], stall_ms=200))

    started = time.monotonic()
    response = await client.post("/orders", json=order_body())

    assert response.status_code == 201
    assert time.monotonic() - started >= 0.2


async def test_slow_commit_applies_late_while_other_requests_are_answered(make_client: ClientFactory) -> None:
    script = [ScriptedFault(kind="slow_commit", match="order-slow")]
    client = make_client("payment", faults=FaultConfig(script=script, slow_commit_ms=800))

    started = time.monotonic()
    slow = asyncio.create_task(
        client.post("/charges", json=charge_body("order-slow"), headers=key("order-slow/charge_payment"))
    )
    await asyncio.sleep(0.1)  # the slow request is now waiting inside the service
    other = await client.post("/charges", json=charge_body("order-other"), headers=key("order-other/charge_payment"))
    during = await charges_of(client)
    answered_meanwhile_s = time.monotonic() - started
    late = await slow

    assert other.status_code == 201
    assert [charge["order_id"] for charge in during] == ["order-other"]  # not applied yet: nothing to find
    assert answered_meanwhile_s < 0.5  # neither the event loop nor the mutation lock was held by the wait
    assert late.status_code == 201 and "Idempotent-Replayed" not in late.headers
    assert time.monotonic() - started >= 0.8
    assert sorted(charge["order_id"] for charge in await charges_of(client)) == ["order-other", "order-slow"]
    assert (await client.get("/admin/stats")).json()["slow_commits_injected"] == 1


async def test_slow_commit_rate_delays_writes_only(make_client: ClientFactory) -> None:
    client = make_client("erp", faults=FaultConfig(slow_commit_rate=1.0, slow_commit_ms=300))

    started = time.monotonic()
    read = await client.get("/orders")
    read_s = time.monotonic() - started
    written = await client.post("/orders", json=order_body())

    assert read.status_code == 200 and read_s < 0.3
    assert written.status_code == 201 and time.monotonic() - started >= 0.3
    assert (await client.get("/admin/stats")).json()["slow_commits_injected"] == 1


def test_a_slow_commit_still_commits_after_the_caller_hung_up(tmp_path: Path) -> None:
    """Over real HTTP (uvicorn): the caller's timeout closes the connection while the request waits, and the request,
    which had fully arrived, is applied anyway — the late commit a saga's compensation can miss."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    faults = {"slow_commit_ms": 1000, "script": [{"kind": "slow_commit", "match": "order-late"}]}
    process = subprocess.Popen(
        [sys.executable, "-m", "services", "payment", "--port", str(port), "--db", str(tmp_path / "payment.db")],
        cwd=REPO_ROOT,
        env=os.environ | {"CADENZA_SERVICE_TOKEN": "t", "CADENZA_FAULTS_PAYMENT": json.dumps(faults)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_health(base_url, process)
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer t"}, timeout=5.0) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.post("/charges", json=charge_body("order-late"), headers=key("order-late/charge"), timeout=0.3)
            right_after_giving_up = client.get("/charges").json()["charges"]
            time.sleep(1.2)
            later = client.get("/charges").json()["charges"]

        assert right_after_giving_up == []
        assert [(charge["order_id"], charge["status"]) for charge in later] == [("order-late", "succeeded")]
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_scripted_faults_match_key_or_path_and_are_consumed_exactly(make_client: ClientFactory) -> None:
    script = [
        ScriptedFault(kind="error", times=2, match="order-A"),
        ScriptedFault(kind="rate_limit", times=1, match="/refunds"),
    ]
    client = make_client("payment", faults=FaultConfig(script=script))

    unmatched = await client.post("/charges", json=charge_body("order-B"), headers=key("charge-order-B"))
    matched = [
        await client.post("/charges", json=charge_body("order-A"), headers=key("charge-order-A")) for _ in range(3)
    ]
    charge_id = matched[-1].json()["id"]
    refunds = [await client.post(f"/charges/{charge_id}/refunds", headers=key("refund")) for _ in range(2)]

    assert unmatched.status_code == 201
    assert [response.status_code for response in matched] == [503, 503, 201]
    assert [response.status_code for response in refunds] == [429, 201]
    assert (await client.get("/admin/faults")).json()["script"] == []
    stats = (await client.get("/admin/stats")).json()
    assert (stats["errors_injected"], stats["rate_limits_injected"]) == (2, 1)


async def test_scripted_fault_without_match_hits_any_post_but_not_reads(make_client: ClientFactory) -> None:
    client = make_client("erp", faults=FaultConfig(script=[ScriptedFault(kind="error", times=1)]))

    read = await client.get("/orders")
    first = await client.post("/orders", json=order_body())
    second = await client.post("/orders", json=order_body())

    assert (read.status_code, first.status_code, second.status_code) == (200, 503, 201)


async def test_admin_faults_round_trip_and_partial_consumption(erp_client: httpx.AsyncClient) -> None:
    config = {"error_rate": 0.0, "latency_ms": 0, "script": [{"kind": "error", "times": 3, "match": "x"}], "seed": 7}

    replaced = await erp_client.put("/admin/faults", json=config)
    await erp_client.post("/orders", json=order_body("order-1"), headers=key("order-x1"))
    current = (await erp_client.get("/admin/faults")).json()

    assert replaced.status_code == 200
    assert replaced.json()["script"] == [{"kind": "error", "times": 3, "match": "x"}]
    assert replaced.json()["stall_ms"] == 15_000 and replaced.json()["retry_after_s"] == 1.0
    assert current["script"] == [{"kind": "error", "times": 2, "match": "x"}]
    assert current["seed"] == 7


@pytest.mark.parametrize(
    "config",
    [
        {"error_rate": 1.5},
        {"latency_ms": -1},
        {"script": [{"kind": "explode", "times": 1}]},
        {"script": [{"kind": "error", "times": 0}]},
        {"typo_rate": 0.5},
        # Types are as strict as in any request body: the document promises integers and numbers, not text or booleans.
        {"seed": False},
        {"latency_ms": "5"},
        {"error_rate": "0.5"},
        {"script": [{"kind": "error", "times": "2"}]},
    ],
)
async def test_invalid_fault_configs_are_rejected(config: dict[str, object], erp_client: httpx.AsyncClient) -> None:
    response = await erp_client.put("/admin/faults", json=config)

    assert response.status_code == 422
    assert error_code(response) == "validation_error"
    assert (await erp_client.get("/admin/faults")).json() == FaultConfig().model_dump()


async def test_seeded_random_faults_are_reproducible(make_client: ClientFactory) -> None:
    async def outcomes(client: httpx.AsyncClient) -> list[int]:
        return [(await client.post("/orders", json=order_body(f"o-{n}"))).status_code for n in range(30)]

    config = FaultConfig(error_rate=0.3, rate_limit=0.3, seed=42)
    first = await outcomes(make_client("erp", db="one", faults=config))
    second = await outcomes(make_client("erp", db="two", faults=config))
    via_app_seed = await outcomes(
        make_client("erp", db="three", faults=config.model_copy(update={"seed": None}), seed=42)
    )

    assert first == second == via_app_seed
    assert {201, 429, 503} <= set(first)


async def test_stats_count_requests_and_faults(make_client: ClientFactory) -> None:
    client = make_client("erp", faults=FaultConfig(script=[ScriptedFault(kind="error")]))

    await client.post("/orders", json=order_body())
    await client.post("/orders", json=order_body(), headers=key("k"))
    await client.post("/orders", json=order_body(), headers=key("k"))
    await client.get("/orders")

    assert (await client.get("/admin/stats")).json() == {
        "requests": 4,
        "errors_injected": 1,
        "rate_limits_injected": 0,
        "stalls_injected": 0,
        "slow_commits_injected": 0,
        "idempotent_replays": 1,
        "fences": 0,
        "fenced_requests": 0,
    }
