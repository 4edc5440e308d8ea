"""The baseline: the HTTP calls of one order made by a plain asyncio function, without Temporal.

Same services, same request bodies (built by the same `*.of(order)` as the workflow's), idempotency keys and bearer
auth, same per-service connection pools (`activities.http`, untraced), in the same order as `OrderWorkflow`: create
the ERP order, charge, reserve, confirm the ERP order, commit the reservation. What it does not have is what the
benchmark prices: durable state, server-managed retries, compensation, tracing.

It makes at most as many calls at once as a Cadenza worker does (`LOCAL_ACTIVITY_SLOTS`): a burst of orders waits
for a turn, not in a connection pool's queue. Unbounded, the orders at the back of a 500-order burst waited there
longer than a call's deadline (`HTTP_DEADLINE`, which counts the wait) on a slow machine, and the baseline failed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from activities.http import ServiceClient, ServiceClients
from starters.bench.workload import Fulfil
from workers.worker import LOCAL_ACTIVITY_SLOTS
from workflows.idempotency import idempotency_key
from workflows.models import ChargeRequest, ErpOrderRequest, Order, ReservationRequest


def direct_fulfil(clients: ServiceClients) -> Fulfil:
    in_flight = asyncio.Semaphore(LOCAL_ACTIVITY_SLOTS)

    async def fulfil(order: Order) -> None:
        async with in_flight:
            await order_calls(clients, order)

    return fulfil


async def order_calls(clients: ServiceClients, order: Order) -> list[httpx.Response]:
    """One order's five calls, one after the other, as OrderWorkflow makes them; their responses, in order."""

    def key(operation: str) -> str:
        return idempotency_key(order.workflow_id, operation)

    erp, payment, inventory = clients.erp, clients.payment, clients.inventory
    created = await _post(erp, "/orders", ErpOrderRequest.of(order).body(), key("create_erp_order"))
    charged = await _post(payment, "/charges", ChargeRequest.of(order).body(), key("charge_payment"))
    reservation = await _post(inventory, "/reservations", ReservationRequest.of(order).body(), key("reserve_inventory"))
    confirmed = await _post(erp, f"/orders/{order.order_id}/confirm", None, key("confirm_erp_order"))
    reservation_id = reservation.json()["id"]
    committed = await _post(inventory, f"/reservations/{reservation_id}/commit", None, key("commit_inventory"))
    return [created, charged, reservation, confirmed, committed]


async def _post(service: ServiceClient, path: str, body: dict[str, Any] | None, key: str) -> httpx.Response:
    """One call, tried again once if it failed retryably — a connection the service closed just as the call reused
    it (a `ReadError` on a loaded machine) — as any script that makes idempotent calls would; the key makes it safe.
    Without it one dropped connection in a 500-order burst aborted the whole benchmark."""
    try:
        return await service.post(path, body, idempotency_key=key)
    except ApplicationError as err:
        if err.non_retryable:
            raise
        return await service.post(path, body, idempotency_key=key)
