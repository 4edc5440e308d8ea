"""Key rotation and missing keys against a real dev server and the real services: orders written under an old key
still run, show and replay once a new key is active (the old one kept for decryption); a process without the key a
payload names fails naming that key id — the worker's failed workflow task says so in clear."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client

from cadenza import codec
from cadenza.codec import KEY_ID_METADATA, KeyRing, UnknownEncryptionKey
from cadenza.stack import NAMESPACE, EmbeddedStack
from clients.orders import place_order, wait_for_result
from starters.replay import new_replayer
from tests.conftest import make_order
from tests.integration.conftest import stack_of_its_own
from workers.worker import order_worker
from workflows.models import OrderState, ShippingAddress
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration


def ring(*lines: str) -> KeyRing:
    parsed = KeyRing.parse(",".join(lines), source="test")
    assert parsed is not None
    return parsed


OLD, NEW = KeyRing.generate_line("k-old"), KeyRing.generate_line("k-new")


async def client_with(stack: EmbeddedStack, keys: KeyRing) -> Client:
    converter = codec.data_converter(keys, namespace=NAMESPACE)
    return await Client.connect(stack.config.temporal_address, data_converter=converter)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(tmp_path_factory) -> AsyncIterator[EmbeddedStack]:
    """A dev server of this module's own: the orders written here under keys the rest of the session does not hold
    must not meet the later tests that list and replay every order of the shared one."""
    async with stack_of_its_own(tmp_path_factory.mktemp("rotation")) as own:
        yield own


def order_with_contact():
    order = make_order()
    address = ShippingAddress(line1="1 Main St", postal_code="12345", city="Springfield", country="US")
    return order.model_copy(update={"customer_email": "homer@example.com", "shipping_address": address})


def key_ids(history) -> set[str]:
    return {
        payload.metadata[KEY_ID_METADATA].decode()
        for event in history.events
        for payload in event.workflow_execution_started_event_attributes.input.payloads
        or event.activity_task_completed_event_attributes.result.payloads
        or event.workflow_execution_completed_event_attributes.result.payloads
        if KEY_ID_METADATA in payload.metadata
    }


async def test_orders_under_the_old_key_run_show_and_replay_after_rotation(stack: EmbeddedStack):
    task_queue = f"rotation-{uuid.uuid4().hex}"
    # Placed before the rotation, while no worker polls: the order is still open when the new key becomes active.
    before = await client_with(stack, ring(OLD))
    placed = await place_order(before, order_with_contact(), task_queue=task_queue, eager_start=False)

    rotated = ring(NEW, OLD)  # new key first (active), the old one kept for what it wrote
    after = await client_with(stack, rotated)
    handle = after.get_workflow_handle_for(OrderWorkflow.run, placed.handle.id)
    async with order_worker(after, task_queue=task_queue, endpoints=stack.config.endpoints()):
        result = await wait_for_result(handle)
    assert result.state == OrderState.COMPLETED
    history = await handle.fetch_history()
    assert key_ids(history) == {"k-old", "k-new"}  # input under the old key, everything since under the new one

    # Replays with the rotated ring; without the old key, replay fails naming it.
    await new_replayer(converter=codec.data_converter(rotated, namespace=NAMESPACE)).replay_workflow(history)
    failed = await new_replayer(converter=codec.data_converter(ring(NEW), namespace=NAMESPACE)).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert "'k-old'" in str(failed.replay_failure)

    # A client that dropped the old key too early cannot show the order, and says which key it misses.
    forgetful = await client_with(stack, ring(NEW))
    with pytest.raises(UnknownEncryptionKey, match=r"'k-old'.*holds only k-new") as err:
        await (await forgetful.get_workflow_handle(placed.handle.id).describe()).static_summary()
    assert err.value.key_id == "k-old"


async def test_a_worker_without_the_key_fails_the_task_naming_the_key_id(stack: EmbeddedStack):
    task_queue = f"missing-key-{uuid.uuid4().hex}"
    placed = await place_order(
        await client_with(stack, ring(OLD)), make_order(), task_queue=task_queue, eager_start=False
    )
    lacking = await client_with(stack, ring(NEW))
    try:
        async with order_worker(lacking, task_queue=task_queue, endpoints=stack.config.endpoints()):
            for _ in range(100):
                failures = [
                    event.workflow_task_failed_event_attributes.failure.message
                    for event in (await placed.handle.fetch_history()).events
                    if event.HasField("workflow_task_failed_event_attributes")
                ]
                if failures:
                    break
                await asyncio.sleep(0.1)
        assert failures and "'k-old'" in failures[0] and "holds only k-new" in failures[0]
    finally:
        await placed.handle.terminate("test: the worker lacked the key on purpose")


def test_a_worker_that_requires_encryption_refuses_to_start_without_keys(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("CADENZA_ENCRYPTION")}
    env |= {"CADENZA_ENCRYPTION": "required", "CADENZA_STATE_DIR": str(tmp_path), "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    started = subprocess.run([sys.executable, "-m", "workers"], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 1
    assert "CADENZA_ENCRYPTION=required but this process has no encryption keys" in started.stderr
    assert "cadenza keys generate" in started.stderr
