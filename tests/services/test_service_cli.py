"""``python -m services`` as a real process: start-up, auth, a charge, a stall over real HTTP, clean shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cadenza.processes import free_port
from services.cli import build_parser, main

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for_health(base_url: str, process: subprocess.Popen[bytes], deadline_s: float = 15.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            errors = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"service exited early with {process.returncode}: {errors}")
        try:
            if httpx.get(f"{base_url}/health", timeout=0.5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail("service did not become healthy in time")


def test_payment_service_runs_as_a_process(tmp_path: Path) -> None:
    port = free_port()
    db_path = tmp_path / "state" / "payment.db"
    base_url = f"http://127.0.0.1:{port}"
    environment = os.environ | {
        "CADENZA_SERVICE_TOKEN": "env-token",
        # Faults from the environment: stall the first request whose key mentions "slow".
        "CADENZA_FAULTS_PAYMENT": json.dumps(
            {"stall_ms": 1500, "script": [{"kind": "stall", "times": 1, "match": "slow"}]}
        ),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services", "payment", "--port", str(port), "--db", str(db_path)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_health(base_url, process)
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer env-token"}, timeout=5.0) as client:
            body = {"order_id": "order-1", "amount": 1234, "currency": "EUR", "payment_token": "tok_visa"}
            unauthorised = httpx.post(f"{base_url}/charges", json=body, headers={"Authorization": "Bearer wrong"})
            charged = client.post("/charges", json=body, headers={"Idempotency-Key": "fast"})
            with pytest.raises(httpx.ReadTimeout):
                client.post(
                    "/charges", json=body | {"order_id": "order-2"}, headers={"Idempotency-Key": "slow"}, timeout=0.3
                )
            stalled_then_committed = client.get("/charges", params={"order_id": "order-2"}).json()["charges"]
            retried = client.post("/charges", json=body | {"order_id": "order-2"}, headers={"Idempotency-Key": "slow"})

        assert unauthorised.status_code == 401
        assert charged.status_code == 201
        assert charged.json()["amount"] == 1234
        assert len(stalled_then_committed) == 1
        assert retried.headers["Idempotent-Replayed"] == "true"
        assert retried.json()["id"] == stalled_then_committed[0]["id"]
        assert db_path.exists()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    assert process.returncode is not None
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base_url}/health", timeout=0.5)


def test_cli_rejects_unknown_services() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["billing"])


@pytest.mark.parametrize("faults", ['{"error_rate": 2}', "{not json", '{"typo": 1}'])
def test_cli_rejects_invalid_fault_configs_before_starting(faults: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["erp", "--faults", faults])

    assert exit_info.value.code == 2
    assert "invalid fault configuration" in capsys.readouterr().err
