"""The delaying proxy itself, against the real payment service: a request held past its client's timeout still
reaches the service later and commits; everything else passes at once; and a worker can be routed through it."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from cadenza.stack import EmbeddedStack
from clients.orders import place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.delaying_proxy import DelayingProxy
from workers.worker import order_worker
from workflows.models import OrderState

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(loop_scope="session")
async def payment_proxy(stack: EmbeddedStack) -> AsyncIterator[DelayingProxy]:
    async with DelayingProxy(stack.config.service_url("payment")) as proxy:
        yield proxy


def charge(order_id: str) -> dict[str, object]:
    return {"order_id": order_id, "amount": 1200, "currency": "EUR", "payment_token": "tok_visa"}


async def charges_at_the_service(stack: EmbeddedStack, order_id: str) -> list[dict[str, object]]:
    endpoint = stack.config.endpoints()["payment"]
    async with httpx.AsyncClient(base_url=endpoint.base_url, headers=endpoint.auth_headers) as direct:
        response = await direct.get("/charges", params={"order_id": order_id})
        charges: list[dict[str, object]] = response.json()["charges"]
        return charges


async def test_a_request_held_past_the_client_timeout_reaches_the_service_later(
    stack: EmbeddedStack, payment_proxy: DelayingProxy
) -> None:
    order_id = f"order-px-{uuid.uuid4().hex[:8]}"
    idempotency_key = f"{order_id}/charge_payment/run-1"
    payment_proxy.delay(idempotency_key, seconds=1.5)
    headers = stack.config.endpoints()["payment"].auth_headers | {"Idempotency-Key": idempotency_key}

    async with httpx.AsyncClient(base_url=payment_proxy.url, headers=headers, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/charges", json=charge(order_id))
    after_the_timeout = await charges_at_the_service(stack, order_id)
    late = await payment_proxy.answered(idempotency_key, timeout=10)
    after_forwarding = await charges_at_the_service(stack, order_id)

    assert after_the_timeout == []  # the client gave up and the service has seen nothing yet
    assert late.status == 201
    assert late.forwarded_at is not None and late.forwarded_at - late.received_at >= 1.5
    assert [(c["order_id"], c["status"]) for c in after_forwarding] == [(order_id, "succeeded")]


async def test_only_matching_heads_are_held_and_only_as_often_as_asked(
    stack: EmbeddedStack, payment_proxy: DelayingProxy
) -> None:
    order_id = f"order-px-{uuid.uuid4().hex[:8]}"
    payment_proxy.delay("Idempotency-Key: held-once", seconds=1.0, times=1)
    auth = stack.config.endpoints()["payment"].auth_headers

    async with httpx.AsyncClient(base_url=payment_proxy.url, headers=auth, timeout=5) as client:
        # The order id is in the body only: the head does not match, so this passes at once.
        body_only = await client.post("/charges", json=charge(order_id), headers={"Idempotency-Key": "other"})
        fast = payment_proxy.requests[-1]
        first = await client.post("/charges", json=charge(order_id), headers={"Idempotency-Key": "held-once"})
        held = payment_proxy.requests[-1]
        again = await client.post("/charges", json=charge(order_id), headers={"Idempotency-Key": "held-once"})
        not_held = payment_proxy.requests[-1]
    await payment_proxy.idle(timeout=5)

    assert (body_only.status_code, first.status_code, again.status_code) == (201, 201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"  # the bytes went through untouched, key and all
    assert (fast.delay_s, held.delay_s, not_held.delay_s) == (0.0, 1.0, 0.0)
    assert [r.status for r in (fast, held, not_held)] == [201, 201, 201]
    assert len(await charges_at_the_service(stack, order_id)) == 2


async def test_a_worker_routed_through_the_proxy_charges_once_when_its_first_charge_arrives_late(
    harness: Harness, payment_proxy: DelayingProxy
) -> None:
    """The wiring the saga tests use: the worker's payment calls go through the proxy. The first charge is held past
    the worker's 5 s HTTP timeout; the retry goes straight through and charges; the original lands afterwards and is
    answered from the idempotency store."""
    endpoints = harness.config.endpoints()
    endpoints["payment"] = dataclasses.replace(endpoints["payment"], base_url=payment_proxy.url)
    order = make_order()
    charge_key = f"{order.workflow_id}/charge_payment"
    payment_proxy.delay(charge_key, seconds=7)
    task_queue = f"proxied-{uuid.uuid4().hex}"

    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints):
        placed = await place_order(harness.client, order, task_queue=task_queue)
        outcome = await wait_for_result(placed.handle)
        late = await payment_proxy.answered(charge_key, timeout=15)
    records = await harness.records.for_order(order.order_id)
    charges_through_the_proxy = [r for r in payment_proxy.requests if charge_key in r.head]

    assert outcome.state == OrderState.COMPLETED
    assert [r.delay_s for r in charges_through_the_proxy] == [7, 0]  # the held one, then the worker's retry
    assert late is charges_through_the_proxy[0] and late.status == 201
    assert late.forwarded_at is not None and late.forwarded_at > charges_through_the_proxy[1].received_at
    assert len(records.succeeded_charges) == 1 and len(records.charges) == 1
