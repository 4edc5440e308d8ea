"""Customer data never reaches Temporal in clear: orders whose name, e-mail, address and payment token carry unique
markers leave no marker in the dev server's SQLite file, in `temporal workflow show -o json` (payloads base64-decoded
before looking) or in the worker's log — and the same check finds every marker on a stack that does not encrypt, so it
can fail. Plus: the CLI reads with the stack's key and fails naming the key id without it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.history.v1 import History
from temporalio.client import Client

from cadenza import codec
from cadenza.codec import KeyRing
from cadenza.processes import free_port
from cadenza.stack import EmbeddedStack, StackConfig
from clients.orders import place_order, wait_for_result
from tests.history_helpers import payload_texts
from workflows.models import Order, OrderLine, OrderState, ShippingAddress

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Markers:
    name: str
    email: str
    address: str
    token: str

    @classmethod
    def new(cls) -> Markers:
        mark = uuid.uuid4().hex[:12]
        return cls(f"NAME{mark}", f"MAIL{mark}", f"ADDR{mark}", f"TOKN{mark}")

    def __iter__(self) -> Iterator[str]:
        return iter((self.name, self.email, self.address, self.token))


def marked_orders(markers: Markers) -> list[Order]:
    """One order that completes, and one whose token the payment service refuses (a failure, then compensations)."""
    contact = {
        "customer_name": f"Ada {markers.name}",
        "customer_email": f"{markers.email}@example.com",
        "shipping_address": ShippingAddress(
            line1=f"1 {markers.address} Road", postal_code="N1", city="London", country="GB"
        ),
    }
    lines = [OrderLine(sku="SKU-BOOK", quantity=1, unit_price=1250)]
    run = uuid.uuid4().hex[:8]
    return [
        Order(
            order_id=f"enc-{run}-ok",
            customer_id="c-1",
            currency="EUR",
            payment_token="tok_visa",
            lines=lines,
            **contact,
        ),
        Order(
            order_id=f"enc-{run}-bad-token",
            customer_id="c-1",
            currency="EUR",
            payment_token=f"tok_{markers.token}",
            lines=lines,
            **contact,
        ),
    ]


async def start_stack(tmp_path: Path, *, encryption: bool) -> EmbeddedStack:
    stack = EmbeddedStack(
        StackConfig(
            state_dir=tmp_path / "stack",
            temporal_port=free_port(),
            ui_port=None,
            service_ports={name: free_port() for name in ("erp", "payment", "inventory")},
            token=f"test-{uuid.uuid4().hex}",
            task_queue=f"enc-{uuid.uuid4().hex}",
            persistent_history=True,  # the SQLite file is what a database administrator would read
            encryption=encryption,
        )
    )
    await stack.start()
    return stack


async def place_and_finish(stack: EmbeddedStack, orders: list[Order]) -> dict[str, OrderState]:
    client = await Client.connect(stack.config.temporal_address, data_converter=stack.config.data_converter())
    placed = [await place_order(client, order, task_queue=stack.config.task_queue) for order in orders]
    return {p.handle.id: (await wait_for_result(p.handle)).state for p in placed}


def workflow_show(stack: EmbeddedStack, workflow_id: str) -> str:
    """`temporal workflow show -o json` as an operator without a codec runs it."""
    argv = [
        str(stack.temporal_binary),
        "workflow",
        "show",
        "--address",
        stack.config.temporal_address,
        "--namespace",
        "default",
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
    ]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def with_payloads_decoded(text: str) -> str:
    """The JSON, plus the base64-decoded `data` of every payload in it (tests.history_helpers.payload_texts)."""
    return "\n".join([text, *payload_texts(text)])


def leaks(stack: EmbeddedStack, workflow_ids: list[str], markers: Markers) -> dict[str, list[str]]:
    """Where each marker can be read without a key: the history database (WAL included), `temporal workflow show`,
    the worker's log."""
    database = b"".join(path.read_bytes() for path in stack.config.state_dir.glob("temporal.db*"))
    shown = "\n".join(with_payloads_decoded(workflow_show(stack, workflow_id)) for workflow_id in workflow_ids)
    worker_log = stack.child("worker").log_path.read_text()
    return {
        "sqlite": [marker for marker in markers if marker.encode() in database],
        "workflow show": [marker for marker in markers if marker in shown],
        "worker log": [marker for marker in markers if marker in worker_log],
    }


def cadenza(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", *args],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


async def test_no_customer_data_in_history_cli_output_or_worker_log(tmp_path, monkeypatch):
    # No keys configured: the stack makes its own development key (what `cadenza up` does on a first start).
    monkeypatch.delenv(codec.KEYS_FILE_ENV, raising=False)
    markers = Markers.new()
    stack = await start_stack(tmp_path, encryption=True)
    try:
        outcomes = await place_and_finish(stack, marked_orders(markers))
        assert sorted(outcomes.values()) == [OrderState.COMPENSATED, OrderState.COMPLETED]

        assert leaks(stack, list(outcomes), markers) == {"sqlite": [], "workflow show": [], "worker log": []}

        # The stack's key reads it all back: the markers are in there, encrypted (else this test could pass vacuously).
        ring = stack.config.key_ring()
        assert ring.source == str(stack.config.keys_file) and ring.active_id.startswith("dev-")
        assert f"payloads encrypted with key {ring.active_id!r}" in stack.child("worker").log_path.read_text()
        history = json_format.Parse(workflow_show(stack, list(outcomes)[1]), History(), ignore_unknown_fields=True)
        input_payloads = history.events[0].workflow_execution_started_event_attributes.input
        [order] = await stack.config.data_converter().decode(input_payloads.payloads)
        assert markers.token in json.dumps(order) and markers.address in json.dumps(order)

        # The CLI decodes with the keys it holds (the stack's, from its environment) and without them names the key.
        order_id = next(iter(outcomes)).removeprefix("order-")
        shown = await asyncio.to_thread(cadenza, ["order", "status", order_id], stack.config.client_env())
        assert shown.returncode == 0, shown.stderr
        other_key = {codec.KEYS_ENV: KeyRing.generate_line("someone-elses")}
        refused = await asyncio.to_thread(
            cadenza, ["order", "status", order_id], {**stack.config.client_env(), **other_key}
        )
        assert refused.returncode == 1
        assert f"key id {ring.active_id!r}" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        stack.stop()
    # Kept with the stack's state, private, and the same on the next start: the history stays readable.
    assert stack.config.keys_file.stat().st_mode & 0o777 == 0o600
    assert stack.config.key_ring() == ring


async def test_the_same_check_finds_every_marker_on_a_stack_that_does_not_encrypt(tmp_path):
    markers = Markers.new()
    stack = await start_stack(tmp_path, encryption=False)
    try:
        outcomes = await place_and_finish(stack, marked_orders(markers))
        found = leaks(stack, list(outcomes), markers)
    finally:
        stack.stop()
    assert found["sqlite"] == list(markers)
    assert found["workflow show"] == list(markers)
