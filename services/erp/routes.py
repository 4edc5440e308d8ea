"""HTTP routes of the ERP."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.common.database import Database
from services.common.fence_routes import build_fence_router
from services.common.fences import Undo, cannot_void
from services.common.idempotency import StoredAnswer
from services.common.mutations import Mutation, Outcome
from services.common.pagination import PageQuery
from services.erp.models import CreateOrderRequest, Order, OrderList, OrderStatus
from services.erp.store import OrderBook


def build_router(database: Database) -> APIRouter:
    """The ``/orders`` routes over the given database."""
    orders = OrderBook(database)
    router = APIRouter()
    router.include_router(_order_routes(orders))

    def void_order(stored: StoredAnswer) -> Undo:
        """A fenced order is cancelled, whether it was still pending or already confirmed."""
        if stored.request.path != "/orders":
            raise cannot_void(stored)
        order = orders.get(stored.body["order_id"])
        if order.status is OrderStatus.CANCELLED:
            return Undo(resource_id=order.order_id, undone=False, detail=f"ERP order {order.order_id} was already cancelled")
        orders.transition(order.order_id, OrderStatus.CANCELLED)
        return Undo(
            resource_id=order.order_id, undone=True, detail=f"cancelled ERP order {order.order_id} (was {order.status.value})"
        )

    router.include_router(build_fence_router(void_order))
    return router


def _order_routes(orders: OrderBook) -> APIRouter:
    router = APIRouter(prefix="/orders", tags=["orders"])

    @router.post("", status_code=201, response_model=Order, summary="Create a pending order")
    async def create_order(body: CreateOrderRequest, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(body, lambda: Outcome.created(orders.create(body)))

    @router.post("/{order_id}/confirm", response_model=Order, summary="Confirm an order (no-op if confirmed)")
    async def confirm_order(order_id: str, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(orders.transition(order_id, OrderStatus.CONFIRMED)))

    @router.post("/{order_id}/cancel", response_model=Order, summary="Cancel an order (no-op if cancelled)")
    async def cancel_order(order_id: str, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(orders.transition(order_id, OrderStatus.CANCELLED)))

    @router.get("/{order_id}", summary="Read one order")
    async def read_order(order_id: str) -> Order:
        return orders.get(order_id)

    @router.get("", summary="List orders, oldest first")
    async def list_orders(page: PageQuery) -> OrderList:
        return OrderList(orders=orders.list(page))

    return router
