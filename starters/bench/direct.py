"""The baseline: the HTTP calls of one order made by a plain asyncio function, without Temporal.

Same services, same requests, idempotency keys and bearer auth, same pooled HTTP client (`activities.http`), in the
same order as `OrderWorkflow`: create the ERP order, charge, reserve, confirm the ERP order, commit the reservation.
What it does not have is what the benchmark prices: durable state, server-managed retries, compensation.
"""

from __future__ import annotations

from activities.http import ServiceClients
from activities.idempotency import idempotency_key
from starters.bench.workload import Fulfil
from workflows.models import ChargeRequest, ErpOrderRequest, Order, ReservationRequest, StockLine


def direct_fulfil(clients: ServiceClients) -> Fulfil:
    async def fulfil(order: Order) -> None:
        def key(operation: str) -> str:
            return idempotency_key(order.workflow_id, operation)

        erp_order = ErpOrderRequest(
            order_id=order.order_id,
            customer_id=order.customer_id,
            currency=order.currency,
            total_amount=order.total_amount,
            lines=order.lines,
        )
        charge = ChargeRequest(
            order_id=order.order_id, amount=order.total_amount, currency=order.currency, payment_token=order.payment_token
        )
        stock = ReservationRequest(
            order_id=order.order_id, lines=[StockLine(sku=line.sku, quantity=line.quantity) for line in order.lines]
        )
        await clients.erp.post("/orders", erp_order.model_dump(mode="json"), idempotency_key=key("create_erp_order"))
        await clients.payment.post("/charges", charge.model_dump(mode="json"), idempotency_key=key("charge_payment"))
        reservation = await clients.inventory.post(
            "/reservations", stock.model_dump(mode="json"), idempotency_key=key("reserve_inventory")
        )
        await clients.erp.post(f"/orders/{order.order_id}/confirm", None, idempotency_key=key("confirm_erp_order"))
        reservation_id = reservation.json()["id"]
        await clients.inventory.post(
            f"/reservations/{reservation_id}/commit", None, idempotency_key=key("commit_inventory")
        )

    return fulfil
