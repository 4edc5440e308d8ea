"""HTTP routes of the ERP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable

from services.common.database import Database
from services.common.error_docs import IDEMPOTENT, VALIDATED, error_docs, lifecycle_move, not_found
from services.common.fence_routes import build_fence_router
from services.common.fences import Undo, nothing_to_void
from services.common.fields import external_id_path
from services.common.idempotency import StoredAnswer
from services.common.keys import Mutation
from services.common.mutations import Outcome
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
            return nothing_to_void(stored)
        order = orders.get(stored.body["order_id"])
        if order.status is OrderStatus.CANCELLED:
            return Undo(
                resource_id=order.order_id, undone=False, detail=f"ERP order {order.order_id} was already cancelled"
            )
        orders.transition(order.order_id, OrderStatus.CANCELLED)
        return Undo(
            resource_id=order.order_id,
            undone=True,
            detail=f"cancelled ERP order {order.order_id} (was {order.status.value})",
        )

    router.include_router(build_fence_router(void_order))
    return router


OrderId = Annotated[str, external_id_path("order")]


def _order_routes(orders: OrderBook) -> APIRouter:
    router = APIRouter(prefix="/orders", tags=["orders"])

    def move_route(action: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """``POST /orders/{order_id}/<action>``, documented as a lifecycle move (operation ``<action>Order``)."""
        return router.post(
            f"/{{order_id}}/{action}",
            response_model=Order,
            responses=lifecycle_move("order"),
            summary=summary,
            operation_id=f"{action}Order",
        )

    @router.post(
        "",
        status_code=201,
        response_model=Order,
        responses=error_docs(VALIDATED, IDEMPOTENT, {409: "`order_exists`: an order with this `order_id` exists"}),
        summary="Create a pending order",
        operation_id="createOrder",
    )
    async def create_order(body: CreateOrderRequest, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(body, lambda: Outcome.created(orders.create(body)))

    @move_route("confirm", "Confirm an order (no-op if confirmed)")
    async def confirm_order(order_id: OrderId, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(orders.transition(order_id, OrderStatus.CONFIRMED)))

    @move_route("cancel", "Cancel an order (no-op if cancelled)")
    async def cancel_order(order_id: OrderId, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(orders.transition(order_id, OrderStatus.CANCELLED)))

    @router.get(
        "/{order_id}", responses=error_docs(not_found("order")), summary="Read one order", operation_id="readOrder"
    )
    async def read_order(order_id: OrderId) -> Order:
        return orders.get(order_id)

    @router.get("", summary="List orders, oldest first", operation_id="listOrders")
    async def list_orders(page: PageQuery) -> OrderList:
        return OrderList(orders=orders.list(page))

    return router
