"""Reaching Temporal is not enough to decide an order (issue 21, High), on the real stack: a 12,000.00 order waits in
`awaiting_review` on a worker that requires encryption, and

- the exact forgery of the report — `temporal workflow update execute --name review --input '{"decision":"approve",
  "reviewer":"mallory"}'`, no key — is refused with a reason its sender can read, and nothing is charged;
- `cadenza order review` with a decision key the workers do not hold is refused, and changes nothing; with the
  right key it approves, and the order is charged exactly once.

Written with what the code had before the refusals existed, so each test also runs, and fails, against it."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHandle

from cadenza import codec
from cadenza.binaries import temporal_cli
from cadenza.codec import KeyRing
from cadenza.decision_keys import DECISION_KEYS
from cadenza.settings import EMBEDDED_ENV
from clients.orders import place_order, wait_for_result
from tests.history_helpers import updates_recorded
from tests.integration.conftest import Harness
from tests.integration.test_cli import CADENZA, _cadenza_async, _example_order
from tests.integration.test_manual_review import _big_order
from tests.integration.test_order_fulfilment import _assert_consistent
from workers.worker import order_worker
from workflows.models import Order, OrderState
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration

FORGED = '{"decision":"approve","reviewer":"mallory"}'
TEST_DECISION_KEYS = Path(__file__).parents[1] / "test-only-decision-keys"  # what every test process signs with


@pytest_asyncio.fixture(loop_scope="session")
async def strict_queue(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A task queue whose worker requires encryption (read when the worker is built), as every deployed one does."""
    monkeypatch.setenv("CADENZA_ENCRYPTION", "required")
    queue = f"strict-{uuid.uuid4().hex}"
    async with order_worker(harness.client, task_queue=queue, endpoints=harness.config.endpoints()):
        yield queue


async def _awaiting_review(harness: Harness, queue: str) -> tuple[Order, WorkflowHandle]:
    order = _big_order()
    handle = (await place_order(harness.client, order, task_queue=queue)).handle
    async with asyncio.timeout(30):
        while (await handle.query(OrderWorkflow.status)).state != OrderState.AWAITING_REVIEW:
            await asyncio.sleep(0.1)
    return order, handle


async def _nothing_decided(harness: Harness, order: Order, handle: WorkflowHandle) -> None:
    assert (await handle.query(OrderWorkflow.status)).state == OrderState.AWAITING_REVIEW
    assert updates_recorded(await handle.fetch_history()) == []
    assert (await harness.records.for_order(order.order_id)).charges == []


def _temporal(args: list[str]) -> subprocess.CompletedProcess[str]:
    binary, _ = temporal_cli()
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


async def test_a_review_typed_into_the_temporal_cli_is_refused_and_nothing_is_charged(harness: Harness, strict_queue):
    order, handle = await _awaiting_review(harness, strict_queue)
    forged = await asyncio.to_thread(
        _temporal,
        [
            "workflow",
            "update",
            "execute",
            "--name",
            "review",
            "--input",
            FORGED,
            "--workflow-id",
            order.workflow_id,
            "--address",
            harness.config.temporal_address,
            "--namespace",
            harness.client.namespace,
        ],
    )
    await _nothing_decided(harness, order, handle)
    said = forged.stdout + forged.stderr
    assert forged.returncode != 0, said
    assert "arrived unencrypted" in said and "Nothing was done" in said, said
    await handle.cancel()  # not left for the audit of other tests to find open


async def test_the_cli_with_a_key_the_workers_do_not_hold_decides_nothing_and_with_theirs_approves(
    harness: Harness, strict_queue
):
    order, handle = await _awaiting_review(harness, strict_queue)
    env = harness.config.client_env()
    held_id = KeyRing.parse(TEST_DECISION_KEYS.read_text(), source="test").active_id
    stolen = f"{held_id}={base64.b64encode(secrets.token_bytes(32)).decode()}"
    with_stolen_key = {**env, "CADENZA_DECISION_KEYS": stolen}
    refused = await _cadenza_async(["order", "review", order.order_id, "--approve"], with_stolen_key)
    await _nothing_decided(harness, order, handle)
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1, said
    assert "signature does not match" in said and "Nothing was decided" in said, said

    approved = await _cadenza_async(["order", "review", order.order_id, "--approve"], env)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert (await wait_for_result(handle)).state == OrderState.COMPLETED
    [charge] = (await _assert_consistent(harness, order, OrderState.COMPLETED)).charges
    assert charge["amount"] == order.total_amount


async def test_an_order_placed_without_the_stacks_keys_is_refused_and_says_where_the_keys_are(
    harness: Harness, strict_queue: str, tmp_path
):
    """A second terminal in another folder than `cadenza up`'s has none of its keys (they are in `./.cadenza`): the
    order goes out in plain text and the stack's worker refuses it. `--wait` once ended with an undecryptable payload
    instead; it must give the worker's reason and where the keys are."""
    keys = {codec.KEYS_ENV, codec.KEYS_FILE_ENV, DECISION_KEYS.keys_env, DECISION_KEYS.file_env}
    plain_shell = {name: value for name, value in os.environ.items() if name not in keys}
    # Not the stack's own process: no `required` encryption, no embedded flag (a newcomer's shell has neither).
    stack = {
        name: value
        for name, value in harness.config.client_env().items()
        if name not in keys | {codec.ENCRYPTION_ENV, EMBEDDED_ENV}
    } | {"CADENZA_TASK_QUEUE": strict_queue}  # a worker that requires encryption, as `cadenza up`'s does
    order_id, path = _example_order(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def place() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CADENZA, "order", "place", str(path), "--wait"],
            env={**plain_shell, "COLUMNS": "200", **stack, codec.ENCRYPTION_ENV: "optional"},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=elsewhere,
        )

    placed = await asyncio.to_thread(place)
    assert placed.returncode == 1, placed.stdout + placed.stderr
    assert "arrived unencrypted" in placed.stderr
    assert f"there is no {elsewhere / '.cadenza' / 'encryption-keys'}" in placed.stderr
    assert f"{codec.KEYS_FILE_ENV}=<that state folder>/encryption-keys" in placed.stderr
    records = await harness.records.for_order(order_id)
    assert records.erp_order is None and records.charges == []
