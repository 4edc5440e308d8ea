"""HTTP routes of the inventory service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable

from services.common.database import Database
from services.common.error_docs import IDEMPOTENT, VALIDATED, error_docs, lifecycle_move, not_found
from services.common.fence_routes import build_fence_router
from services.common.fences import Undo, nothing_to_void
from services.common.fields import issued_id_path, record_path
from services.common.idempotency import StoredAnswer
from services.common.keys import Mutation
from services.common.mutations import Outcome
from services.common.pagination import PageQuery
from services.inventory.models import (
    CreateReservationRequest,
    Reservation,
    ReservationList,
    ReservationStatus,
    StockLevel,
    StockList,
)
from services.inventory.store import Warehouse
from services.inventory.tables import STOCKED_SKUS

ReservationId = Annotated[str, issued_id_path("reservation", "res")]
StockedSkuPath = Annotated[str, record_path("SKU", "SKU-BOOK", enum=list(STOCKED_SKUS))]


def build_router(database: Database) -> APIRouter:
    """The ``/reservations`` and ``/stock`` routes over the given database."""
    warehouse = Warehouse(database)
    router = APIRouter()
    router.include_router(_reservation_routes(warehouse))
    router.include_router(_stock_routes(warehouse))

    def void_reservation(stored: StoredAnswer) -> Undo:
        """A fenced reservation is released: held stock back to available, shipped stock back on the shelf."""
        if stored.request.path != "/reservations":
            return nothing_to_void(stored)
        reservation = warehouse.get_reservation(stored.body["id"])
        if reservation.status is ReservationStatus.RELEASED:
            return Undo(
                resource_id=reservation.id, undone=False, detail=f"reservation {reservation.id} was already released"
            )
        warehouse.release(reservation.id)
        return Undo(
            resource_id=reservation.id,
            undone=True,
            detail=f"released {reservation.id} (was {reservation.status.value})",
        )

    router.include_router(build_fence_router(void_reservation))
    return router


def _reservation_routes(warehouse: Warehouse) -> APIRouter:
    router = APIRouter(prefix="/reservations", tags=["reservations"])

    def move_route(action: str, summary: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """``POST /reservations/{reservation_id}/<action>``, a lifecycle move (operation ``<action>Reservation``)."""
        return router.post(
            f"/{{reservation_id}}/{action}",
            response_model=Reservation,
            responses=lifecycle_move("reservation"),
            summary=summary,
            operation_id=f"{action}Reservation",
        )

    @router.post(
        "",
        status_code=201,
        response_model=Reservation,
        responses=error_docs(
            VALIDATED,
            IDEMPOTENT,
            {
                409: "`reservation_exists`: the order already holds a live reservation; or `out_of_stock`: a line asks "
                "for more than is available (`sku`, `requested`, `available`), and nothing was reserved",
                422: "`unknown_sku`: a line names a SKU that is not stocked (`sku`)",
            },
        ),
        summary="Hold stock for an order, all lines or none",
        operation_id="createReservation",
    )
    async def create_reservation(body: CreateReservationRequest, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(body, lambda: Outcome.created(warehouse.reserve(body)))

    @move_route("commit", "Ship held stock (no-op if committed)")
    async def commit_reservation(reservation_id: ReservationId, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(warehouse.commit(reservation_id)))

    @move_route("release", "Put held or committed stock back")
    async def release_reservation(reservation_id: ReservationId, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(warehouse.release(reservation_id)))

    @router.get(
        "/{reservation_id}",
        responses=error_docs(not_found("reservation")),
        summary="Read one reservation",
        operation_id="readReservation",
    )
    async def read_reservation(reservation_id: ReservationId) -> Reservation:
        return warehouse.get_reservation(reservation_id)

    @router.get("", summary="List reservations, oldest first", operation_id="listReservations")
    async def list_reservations(
        page: PageQuery, order_id: Annotated[str | None, Query(max_length=64)] = None
    ) -> ReservationList:
        return ReservationList(reservations=warehouse.list_reservations(page, order_id))

    return router


def _stock_routes(warehouse: Warehouse) -> APIRouter:
    router = APIRouter(prefix="/stock", tags=["stock"])

    @router.get("", summary="Stock of every SKU", operation_id="listStock")
    async def list_stock() -> StockList:
        return StockList(stock=warehouse.list_stock())

    @router.get("/{sku}", responses=error_docs(not_found("SKU")), summary="Stock of one SKU", operation_id="readStock")
    async def read_stock(sku: StockedSkuPath) -> StockLevel:
        return warehouse.get_stock(sku)

    return router
