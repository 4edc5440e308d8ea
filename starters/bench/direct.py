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

from activities.http import ServiceClients
from starters.bench.workload import Fulfil
from workers.worker import LOCAL_ACTIVITY_SLOTS
from workflows.idempotency import idempotency_key
from workflows.models import ChargeRequest, ErpOrderRequest, Order, ReservationRequest


def direct_fulfil(clients: ServiceClients) -> Fulfil:
    in_flight = asyncio.Semaphore(LOCAL_ACTIVITY_SLOTS)

    async def fulfil(order: Order) -> None:
        async with in_flight:
            await _calls(clients, order)

    return fulfil


async def _calls(clients: ServiceClients, order: Order) -> None:
    """One order's five calls, one after the other, as OrderWorkflow makes them."""

    def key(operation: str) -> str:
        return idempotency_key(order.workflow_id, operation)

    erp, payment, inventory = clients.erp, clients.payment, clients.inventory
    await erp.post("/orders", ErpOrderRequest.of(order).body(), idempotency_key=key("create_erp_order"))
    await payment.post("/charges", ChargeRequest.of(order).body(), idempotency_key=key("charge_payment"))
    reservation = await inventory.post(
        "/reservations", ReservationRequest.of(order).body(), idempotency_key=key("reserve_inventory")
    )
    await erp.post(f"/orders/{order.order_id}/confirm", None, idempotency_key=key("confirm_erp_order"))
    reservation_id = reservation.json()["id"]
    await inventory.post(f"/reservations/{reservation_id}/commit", None, idempotency_key=key("commit_inventory"))
