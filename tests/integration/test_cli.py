"""The `cadenza` command as a user runs it: a real process, real exit codes, real output."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cadenza.processes import free_port, port_in_use
from tests.integration.conftest import Harness

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CADENZA = [sys.executable, "-m", "starters.cli"]


def _cadenza(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CADENZA, *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


async def _cadenza_async(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # In a thread: the harness's worker runs on this event loop and must keep serving while the CLI waits.
    return await asyncio.to_thread(_cadenza, args, env)


def _example_order(tmp_path: Path, **changes: object) -> tuple[str, Path]:
    order = json.loads((REPO / "examples" / "order.json").read_text())
    order.update(order_id=f"cli-{uuid.uuid4().hex[:8]}", **changes)
    path = tmp_path / "order.json"
    path.write_text(json.dumps(order))
    return order["order_id"], path


async def test_order_place_wait_prints_the_result_and_status_shows_it(harness: Harness, tmp_path):
    order_id, path = _example_order(tmp_path)
    env = harness.config.client_env()
    placed = await _cadenza_async(["order", "place", str(path), "--wait"], env)
    assert placed.returncode == 0, placed.stderr
    result = json.loads(placed.stdout)
    assert (result["order_id"], result["state"]) == (order_id, "completed")

    status = await _cadenza_async(["order", "status", order_id], env)
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout and f"/workflows/order-{order_id}" in status.stdout

    again = await _cadenza_async(["order", "place", str(path)], env)
    assert again.returncode == 0 and "already placed" in again.stdout
    assert len((await harness.records.for_order(order_id)).charges) == 1


async def test_a_declined_order_is_shown_by_its_state_and_refused_a_retry_in_the_api_s_words(
    harness: Harness, tmp_path
):
    order_id, path = _example_order(tmp_path, payment_token="tok_chargeDeclined")
    env = harness.config.client_env()
    placed = await _cadenza_async(["order", "place", str(path), "--wait"], env)
    assert placed.returncode == 0, placed.stderr
    result = json.loads(placed.stdout)  # the whole OrderResult, though the execution failed
    assert (result["state"], result["error_type"], result["failed_step"]) == (
        "compensated",
        "CardDeclined",
        "charge_payment",
    )

    status = await _cadenza_async(["order", "status", order_id], env)
    assert status.returncode == 0, status.stderr
    lines = [line.strip(" │") for line in status.stdout.splitlines()[1:]]  # under the panel's title
    assert lines[0].startswith(f"Order {order_id}: compensated (") and "declined" in lines[0], lines
    assert "(execution failed: compensated, it fails as designed)" in " ".join(status.stdout.split())

    retry = await _cadenza_async(["order", "retry-compensation", order_id], env)
    assert retry.returncode == 1, retry.stdout
    said = " ".join((retry.stderr + retry.stdout).split())
    assert f"Order {order_id} is compensated, not needs_attention" in said, said
    assert "already completed" not in said


async def test_an_order_id_placed_again_with_another_body_is_refused_as_the_api_refuses_it(harness: Harness, tmp_path):
    order_id, path = _example_order(tmp_path)
    env = harness.config.client_env()
    placed = await _cadenza_async(["order", "place", str(path), "--wait"], env)
    assert placed.returncode == 0, placed.stderr
    stored = json.loads(path.read_text())

    other = {**stored, "customer_id": "someone-else"}
    path.write_text(json.dumps(other))
    refused = await _cadenza_async(["order", "place", str(path)], env)
    assert refused.returncode == 1, refused.stdout
    said = " ".join((refused.stderr + refused.stdout).split())
    assert f"Order {order_id} was already placed with a different body" in said
    assert f"customer {stored['customer_id']}" in said, "shows the order it holds"
    assert "nothing new was started" in said and "new id" in said
    records = await harness.records.for_order(order_id)
    assert len(records.charges) == 1 and records.erp_order is not None
    status = await _cadenza_async(["order", "status", order_id], env)
    assert "completed" in status.stdout and "someone-else" not in status.stdout


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 0, "unit_price": 100}]}, "lines.0.quantity"),
        ({"payment_token": "4242424242424242"}, "payment_token"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 1}] * 2}, "appears more than once"),
        ({"lines": [{"sku": "SKU-NOPE", "quantity": 1, "unit_price": 100}]}, "lines.0.sku: unknown SKU"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 10_000, "unit_price": 10**12}]}, "above the limit"),
    ],
)
async def test_invalid_orders_are_refused_before_anything_starts(harness: Harness, tmp_path, changes, field):
    order_id, path = _example_order(tmp_path, **changes)
    refused = await _cadenza_async(["order", "place", str(path)], harness.config.client_env())
    assert refused.returncode == 2
    assert field in refused.stderr and "Nothing was started" in refused.stderr
    records = await harness.records.for_order(order_id)
    assert (records.erp_order, records.charges, records.reservations) == (None, [], [])
    missing = await _cadenza_async(["order", "status", order_id], harness.config.client_env())
    assert missing.returncode == 1 and "No order" in missing.stderr


async def test_malformed_json_is_refused_with_exit_2(harness: Harness, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"order_id": "x", ')
    refused = await _cadenza_async(["order", "place", str(path)], harness.config.client_env())
    assert refused.returncode == 2 and "malformed JSON" in refused.stderr


def _stack_env(tmp_path: Path) -> dict[str, str]:
    # Every port the stack opens, the travel services' too: a port left at its default would meet a user's own stack.
    ports = {
        name: free_port()
        for name in (
            "TEMPORAL",
            "TEMPORAL_UI",
            "ERP",
            "PAYMENT",
            "INVENTORY",
            "FLIGHT",
            "HOTEL",
            "CAR",
            "API",
            "METRICS",
            "CODEC",
        )
    }
    return {
        "CADENZA_STATE_DIR": str(tmp_path / "state"),
        **{f"CADENZA_{name}_PORT": str(port) for name, port in ports.items()},
        "TEMPORAL_ADDRESS": f"localhost:{ports['TEMPORAL']}",
        "CADENZA_TASK_QUEUE": f"cli-{uuid.uuid4().hex}",
    }


def _stack_ports(env: dict[str, str]) -> list[int]:
    return [int(value) for key, value in env.items() if key.endswith("_PORT")]


def test_up_serves_until_ctrl_c_then_leaves_nothing_running(tmp_path):
    env = _stack_env(tmp_path)
    up = subprocess.Popen(
        [*CADENZA, "up"],
        env={**os.environ, "COLUMNS": "80", **env},  # a pipe at 80 columns: every endpoint still whole
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    output = []
    deadline = time.monotonic() + 90
    assert up.stdout is not None
    while time.monotonic() < deadline:
        line = up.stdout.readline()
        output.append(line)
        if "Ready." in line or not line:
            break
    text = "".join(output)
    assert "Ready." in text, text
    assert "Temporal CLI:" in text.splitlines()[0]
    for endpoint in (
        f"http://localhost:{env['CADENZA_METRICS_PORT']}/metrics",
        f"OpenAPI: http://localhost:{env['CADENZA_API_PORT']}/docs",
        f"temporal workflow show --codec-endpoint http://localhost:{env['CADENZA_CODEC_PORT']}",
    ):
        assert endpoint in text, text
    assert all(port_in_use(port) for port in _stack_ports(env))

    # Orders against it, then the worker's Prometheus endpoint reports them next to the SDK's own metrics.
    for token in ("tok_visa", "tok_chargeDeclined"):
        _, path = _example_order(tmp_path, payment_token=token)
        assert _cadenza(["order", "place", str(path), "--wait"], env).returncode == 0
    metrics = httpx.get(f"http://127.0.0.1:{env['CADENZA_METRICS_PORT']}/metrics").text
    assert re.search(r'cadenza_orders\{[^}]*outcome="completed"[^}]*\} 1', metrics), metrics
    assert re.search(r'cadenza_orders\{[^}]*outcome="compensated"[^}]*\} 1', metrics)
    assert "cadenza_compensations{" in metrics and "cadenza_step_duration" in metrics
    assert re.search(r'cadenza_activity_attempts\{[^}]*activity="charge_payment"[^}]*outcome="CardDeclined"', metrics)
    assert "temporal_workflow_completed" in metrics

    up.send_signal(signal.SIGINT)
    rest, _ = up.communicate(timeout=60)
    assert up.returncode == 0, text + rest
    assert "Stopped." in rest
    assert not any(port_in_use(port) for port in _stack_ports(env))


def test_up_with_a_taken_port_says_which_and_what_to_do(tmp_path):
    import socket

    env = _stack_env(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(env["CADENZA_PAYMENT_PORT"])))
        blocker.listen()
        refused = _cadenza(["up"], env, timeout=60)
    assert refused.returncode == 1
    assert f"{env['CADENZA_PAYMENT_PORT']} (payment)" in refused.stderr and "CADENZA_PAYMENT_PORT" in refused.stderr
    assert all(variable in refused.stderr for variable in _PORT_VARIABLES), refused.stderr  # the API's, metrics' too
    assert not port_in_use(int(env["CADENZA_TEMPORAL_PORT"]))


def test_demo_starts_its_own_stack_passes_every_scenario_and_stops_it(tmp_path):
    env = _stack_env(tmp_path)
    demo = _cadenza(["demo"], {**env, "COLUMNS": "80"}, timeout=300)  # into a pipe, at 80 columns
    assert demo.returncode == 0, demo.stdout + demo.stderr
    for scenario in ("happy path", "declined card", "out of stock", "payment 503 twice", "same order placed twice"):
        assert scenario in demo.stdout
    assert "Every scenario ended as expected" in demo.stdout
    # Every scenario passed: nothing on the console reads like a crash (the detail is in the worker's log file).
    for crash in ("Traceback", "Completing activity as failed", "WARN", "CardDeclined:", "…"):
        assert crash not in demo.stdout + demo.stderr, demo.stdout + demo.stderr
    # The order ids `cadenza order status` takes, whole; each link on its line; the table ends its line.
    order_ids = set(re.findall(r"demo-[0-9a-f]{6}-[a-z0-9]+", demo.stdout))
    assert {order_id.rsplit("-", 1)[1] for order_id in order_ids} == {"happy", "declined", "out", "payment", "same"}
    for order_id in order_ids:
        assert re.search(rf"http://localhost:\d+/namespaces/default/workflows/order-{order_id}\n", demo.stdout)
    assert "\nEach order in the Temporal Web UI:" in demo.stdout
    assert "Completing activity as failed" in (tmp_path / "state" / "logs" / "command-worker.log").read_text()
    assert not any(port_in_use(port) for port in _stack_ports(env))


async def test_audit_exits_1_and_names_the_order_when_records_disagree(harness: Harness):
    prefix = f"cli-audit-{uuid.uuid4().hex[:6]}-"
    payment = harness.config.endpoints()["payment"]
    orphan = {"order_id": f"{prefix}x", "amount": 100, "currency": "EUR", "payment_token": "tok_visa"}
    created = await harness.http.post(
        f"{payment.base_url}/charges", json=orphan, headers={"Authorization": f"Bearer {payment.token}"}
    )
    assert created.status_code == 201
    audit = await _cadenza_async(["audit", "--prefix", prefix], harness.config.client_env())
    assert audit.returncode == 1
    assert f"{prefix}x" in audit.stdout and "no execution of" in audit.stdout


async def test_load_command_reports_outcomes_and_latency(harness: Harness, tmp_path):
    report_file = tmp_path / "load.json"
    load = await _cadenza_async(
        ["load", "--orders", "6", "--concurrency", "3", "--json", str(report_file)], harness.config.client_env()
    )
    assert load.returncode == 0, load.stderr
    report = json.loads(report_file.read_text())
    # Every order ended as planned: an "error" outcome (or any other end) is not an outcome of the mix.
    assert report["outcomes"].get("completed", 0) + report["outcomes"].get("compensated", 0) == 6, report["outcomes"]
    assert report["unfinished"] == {} and report["latency_ms"]["p50"] > 0
    audit = await _cadenza_async(["audit", "--prefix", f"load-{report['run_id']}"], harness.config.client_env())
    assert audit.returncode == 0, audit.stdout


async def test_a_load_whose_orders_do_not_all_close_says_so_and_exits_1(harness: Harness, tmp_path):
    # Slow charges keep the orders in flight; the test terminates them, as an operator might, so none can end
    # completed or compensated.
    report_file = tmp_path / "load.json"
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    args = [
        "load",
        "--orders",
        "2",
        "--concurrency",
        "2",
        "--faults",
        "payment:latency_ms=4000",
        "--json",
        str(report_file),
    ]
    load = asyncio.create_task(_cadenza_async(args, harness.config.client_env()))
    in_flight = f'WorkflowId STARTS_WITH "order-load-" AND ExecutionStatus="Running" AND StartTime > "{started}"'
    terminated: set[str] = set()
    while len(terminated) < 2 and not load.done():
        async for execution in harness.client.list_workflows(in_flight):
            if execution.id not in terminated:
                await harness.client.get_workflow_handle(execution.id).terminate("test: an order that never closes")
                terminated.add(execution.id)
        await asyncio.sleep(0.1)
    finished = await load
    assert len(terminated) == 2, finished.stdout
    assert finished.returncode == 1, finished.stdout
    assert "2 of 2 orders did not end completed or compensated" in finished.stdout
    report = json.loads(report_file.read_text())
    assert sum(report["unfinished"].values()) == 2 and report["outcomes"].get("completed", 0) == 0


# ---- every door that serves: the same port variables, the same busy-port message, exit 1 ----------------------------

_SERVING = {
    "api": ("CADENZA_API_PORT", "Order API"),
    "codec-server": ("CADENZA_CODEC_PORT", "codec server"),
    "worker": ("CADENZA_METRICS_PORT", "worker metrics"),
}
_PORT_VARIABLES = [
    f"CADENZA_{name}_PORT"
    for name in ("TEMPORAL", "TEMPORAL_UI", "ERP", "PAYMENT", "INVENTORY", "FLIGHT", "HOTEL", "CAR", "API", "CODEC")
] + ["CADENZA_METRICS_PORT"]


def _door_env(tmp_path: Path) -> dict[str, str]:
    # Keys so that nothing but the port can stop the door; a Temporal nobody runs: the port is checked first.
    return {
        "CADENZA_STATE_DIR": str(tmp_path / "state"),
        "CADENZA_ENCRYPTION": "off",
        "CADENZA_DECISION_KEYS_FILE": str(REPO / "tests" / "test-only-decision-keys"),
        "CADENZA_SERVICE_TOKEN": "test-token",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }


@pytest.mark.parametrize("command", sorted(_SERVING))
def test_a_door_on_a_busy_port_names_every_port_variable_and_exits_1(tmp_path, command):
    import socket

    variable, name = _SERVING[command]
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        refused = _cadenza([command], {**_door_env(tmp_path), variable: str(port)}, timeout=60)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert f"Port {port} ({name}) already in use" in message, refused.stderr
    assert all(each in message for each in _PORT_VARIABLES), message
    assert "Traceback" not in refused.stderr and "Errno" not in refused.stderr


def test_cadenza_api_serves_on_cadenza_api_port_and_logs_each_request(tmp_path):
    env = {**_door_env(tmp_path), "CADENZA_API_PAGE_TOKEN_SECRET": "x" * 32}
    created = _cadenza(["api-key", "create", "--scope", "orders:read", "--name", "checkout"], env, timeout=60)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    port = free_port()
    api = subprocess.Popen(
        [*CADENZA, "api"],
        env={**os.environ, **env, "CADENZA_API_PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_in_use(port) and api.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_in_use(port), "the Order API is not listening on CADENZA_API_PORT"
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/orders/ord-1001", headers={"X-Request-ID": "req-unknown-key"}).status_code == 401
        known = httpx.get(
            f"{url}/orders/ord-1001",
            headers={"Authorization": f"Bearer {key}", "X-Request-ID": "req-known-key"},
            timeout=30,
        )
        assert known.status_code in (404, 503), known.text  # no Temporal runs: the answer does not matter here
    finally:
        api.send_signal(signal.SIGINT)
        _, logged = api.communicate(timeout=30)
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line.get("access")}
    assert access["req-unknown-key"]["status"] == 401 and access["req-unknown-key"]["caller"] is None, logged
    seen = access["req-known-key"]
    assert (seen["method"], seen["route"], seen["status"]) == ("GET", "/orders/{order_id}", known.status_code)
    assert seen["duration_ms"] >= 0 and seen["caller"].startswith("key checkout (")
    assert key not in logged and "ord-1001" not in json.dumps(list(access.values()))  # never the key; no ids in routes


@pytest.mark.parametrize("command", ["api", "codec-server"])
def test_a_door_says_where_it_serves(tmp_path, command):
    """Both once started without a word about where (the codec server printed nothing at all)."""
    variable, name = _SERVING[command]
    port = free_port()
    env = {
        **_door_env(tmp_path),
        "CADENZA_API_PAGE_TOKEN_SECRET": "x" * 32,
        "CADENZA_ENCRYPTION_KEYS_FILE": str(REPO / "tests" / "test-only-encryption-keys"),
        variable: str(port),
    }
    door = subprocess.Popen([*CADENZA, command], env={**os.environ, **env}, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not port_in_use(port) and door.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_in_use(port), f"the {name} is not listening on {variable}"
    finally:
        door.send_signal(signal.SIGINT)
        _, logged = door.communicate(timeout=30)
    said = [json.loads(line)["message"] for line in logged.splitlines() if line.startswith("{")]
    assert any(message.startswith(f"{name} on http://127.0.0.1:{port}") for message in said), logged


@pytest.mark.parametrize(
    "decision",
    [[], ["--approve", "--reject"], ["--approve", "--reason", ""]],
    ids=["no decision", "both", "empty reason"],
)
def test_a_review_without_exactly_one_decision_is_refused_input(tmp_path, decision):
    # Refused before anything connects (a Temporal nobody runs): bad input, exit 2, as for every other command.
    refused = _cadenza(["order", "review", "ord-1001", *decision], _door_env(tmp_path), timeout=60)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "--approve" in refused.stderr or "--reason" in refused.stderr
