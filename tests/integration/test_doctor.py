"""`cadenza doctor` as a user runs it, against a real `cadenza up` stack (dev server, services, worker, Order API,
codec server): it passes there, and each way of breaking the setup fails the right row with the right fix."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from cadenza.processes import free_port
from cadenza.search_attributes import ALL_KEYS
from cadenza.settings import DEFAULT_SERVICE_TOKEN
from tests.integration.test_cli import CADENZA, REPO, _cadenza, _stack_env

pytestmark = pytest.mark.integration

ALL_ROWS = [
    "Temporal reachable",
    "namespace",
    "search attributes",
    "workers polling",
    "encryption keys",
    "erp",
    "payment",
    "inventory",
    "Order API",
    "codec server",
    "open orders replay",
]


@pytest.fixture(scope="module")
def up(tmp_path_factory) -> Iterator[dict[str, str]]:
    """`cadenza up` in the background, on free ports; yields the environment a user's shell would have for it.

    `cadenza up` itself runs in a shell that is set up for Temporal Cloud: its stack must talk to its own dev server
    anyway (cadenza.settings.EMBEDDED_ENV), not send the key and TLS to it."""
    env = _stack_env(tmp_path_factory.mktemp("doctor"))
    env["CADENZA_API_PORT"] = str(free_port())
    cloud_shell = {
        "TEMPORAL_CONFIG_FILE": str(REPO / "examples" / "temporal.toml"),
        "TEMPORAL_PROFILE": "cloud-api-key",
        "TEMPORAL_API_KEY": "a-cloud-key-in-the-shell",
    }
    process = subprocess.Popen(
        [*CADENZA, "up"],
        env={**os.environ, "COLUMNS": "200", **env, **cloud_shell},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert process.stdout is not None
    output, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline and (line := process.stdout.readline()):
        output.append(line)
        if "Ready." in line:
            break
    assert "Ready." in "".join(output), "".join(output)
    try:
        yield env
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=90)


def _doctor(env: dict[str, str], *args: str) -> tuple[int, dict[str, dict[str, str]], str]:
    """Exit code, rows by check name (from --json), and the JSON text (for assertion messages)."""
    done = _cadenza(["doctor", "--json", "--timeout", "5", *args], env, timeout=120)
    report = json.loads(done.stdout)
    assert report["passed"] is (done.returncode == 0)
    return done.returncode, {row["check"]: row for row in report["checks"]}, done.stdout + done.stderr


def _failing(rows: dict[str, dict[str, str]]) -> set[str]:
    return {name for name, row in rows.items() if row["status"] not in ("pass", "warn")}


def test_passes_on_a_running_stack(up):
    code, rows, text = _doctor(up)
    assert code == 0, text
    assert list(rows) == ALL_ROWS
    assert f"127.0.0.1:{up['CADENZA_TEMPORAL_PORT']}" not in rows["Temporal reachable"]["detail"]  # as configured:
    assert (
        f"localhost:{up['CADENZA_TEMPORAL_PORT']} · namespace default · profile default"
        in rows["Temporal reachable"]["detail"]
    )
    assert rows["workers polling"]["detail"].startswith(f"1 on {up['CADENZA_TASK_QUEUE']}: ")
    assert "round trip ok" in rows["encryption keys"]["detail"]
    assert all("token accepted" in rows[name]["detail"] for name in ("erp", "payment", "inventory"))
    assert "decrypts this process's payloads" in rows["codec server"]["detail"]


def test_the_workers_probes_in_its_own_process(up):
    """What Kubernetes will ask `cadenza worker` (here: `cadenza up`'s worker process) on its metrics port."""
    base = f"http://127.0.0.1:{up['CADENZA_METRICS_PORT']}"
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["task_queue"] == up["CADENZA_TASK_QUEUE"], ready.text
    assert httpx.get(f"{base}/healthz", timeout=10).json() == {"status": "alive"}
    assert "temporal_num_pollers" in httpx.get(f"{base}/metrics", timeout=10).text


def test_the_table_shows_every_check_and_the_verdict(up):
    shown = _cadenza(["doctor"], up, timeout=120)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert all(name in shown.stdout for name in ALL_ROWS) and "All checks passed." in shown.stdout


def test_no_worker_polling(up):
    queue = f"nobody-{uuid.uuid4().hex[:8]}"
    code, rows, text = _doctor({**up, "CADENZA_TASK_QUEUE": queue})
    assert code == 1 and _failing(rows) == {"workers polling"}, text
    assert f"no worker polls task queue {queue}" in rows["workers polling"]["detail"]
    assert f"CADENZA_TASK_QUEUE={queue} cadenza worker" in rows["workers polling"]["fix"]


def test_search_attributes_missing_in_a_namespace_of_its_own(up):
    namespace = f"doctor-{uuid.uuid4().hex[:8]}"
    asyncio.run(_register_namespace(f"localhost:{up['CADENZA_TEMPORAL_PORT']}", namespace))
    code, rows, text = _doctor({**up, "TEMPORAL_NAMESPACE": namespace})
    assert code == 1, text
    assert rows["namespace"]["status"] == "pass"
    row = rows["search attributes"]
    assert row["status"] == "fail" and all(key.name in row["detail"] for key in ALL_KEYS), text
    for key in ALL_KEYS:
        assert f"temporal operator search-attribute create --namespace {namespace} --name {key.name} " in row["fix"]


async def _register_namespace(address: str, namespace: str) -> None:
    client = await Client.connect(address)
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=timedelta(days=1))
    )
    async with asyncio.timeout(30):  # the frontend learns of a new namespace on its next cache refresh
        while True:
            try:
                await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
                return
            except Exception:  # noqa: BLE001 - not known to this frontend yet: ask again
                await asyncio.sleep(0.5)


def test_unknown_namespace(up):
    code, rows, text = _doctor({**up, "TEMPORAL_NAMESPACE": "no-such-namespace"})
    assert code == 1 and rows["namespace"]["status"] == "fail", text
    assert "temporal operator namespace create --namespace no-such-namespace" in rows["namespace"]["fix"]


def test_a_service_down_and_a_wrong_token(up):
    nobody = f"http://127.0.0.1:{free_port()}"
    # A service pointed at by URL needs its token said (the development one is the embedded stack's own default).
    tokens = {"CADENZA_SERVICE_TOKEN": DEFAULT_SERVICE_TOKEN, "CADENZA_ERP_TOKEN": "not-the-token"}
    code, rows, text = _doctor({**up, "CADENZA_PAYMENT_URL": nobody, **tokens})
    assert code == 1 and _failing(rows) == {"payment", "erp"}, text
    assert nobody in rows["payment"]["detail"] and "does not answer" in rows["payment"]["detail"]
    assert "`cadenza services`" in rows["payment"]["fix"] and "CADENZA_PAYMENT_URL" in rows["payment"]["fix"]
    assert "refuses this token (401)" in rows["erp"]["detail"] and "CADENZA_ERP_TOKEN" in rows["erp"]["fix"]


def test_a_service_elsewhere_without_a_token(up):
    code, rows, text = _doctor({**up, "CADENZA_PAYMENT_URL": "https://payment.example.com"})
    assert code == 1 and _failing(rows) == {"payment"}, text
    assert "CADENZA_PAYMENT_TOKEN" in rows["payment"]["detail"] and "CADENZA_PAYMENT_TOKEN" in rows["payment"]["fix"]


def test_codec_server_with_other_keys(up):
    other = _cadenza(["keys", "generate"], up).stdout.strip().splitlines()[-1]
    code, rows, text = _doctor({**up, "CADENZA_ENCRYPTION_KEYS": other})
    assert code == 1 and _failing(rows) == {"codec server"}, text
    assert "cannot decrypt this process's payloads" in rows["codec server"]["detail"]


def test_encryption_required_without_keys(up):
    env = {**up, "CADENZA_ENCRYPTION": "required", "CADENZA_ENCRYPTION_KEYS_FILE": ""}
    code, rows, text = _doctor(env)
    assert code == 1 and rows["encryption keys"]["status"] == "fail", text
    assert "CADENZA_ENCRYPTION_KEYS" in rows["encryption keys"]["fix"]


def test_temporal_unreachable_skips_what_depends_on_it(up):
    code, rows, text = _doctor({**up, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    assert code == 1 and rows["Temporal reachable"]["status"] == "fail", text
    assert [rows[name]["status"] for name in ("namespace", "search attributes", "workers polling")] == ["skip"] * 3
    assert rows["erp"]["status"] == "pass"  # the rest is still checked


def test_an_endpoint_that_never_answers_costs_one_timeout(up):
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        code, rows, text = _doctor(
            {**up, "CADENZA_API_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}, "--timeout", "2"
        )
    assert code == 1 and rows["Order API"]["detail"] == "no answer within 2 s", text
    assert "CADENZA_API_URL" in rows["Order API"]["fix"]
    assert time.monotonic() - started < 60
