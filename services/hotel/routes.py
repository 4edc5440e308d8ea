"""HTTP routes of the hotel. Its undo is a DELETE, idempotent by nature: deleting again answers the same."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.common.database import Database
from services.common.error_docs import IDEMPOTENT, VALIDATED, error_docs, not_found
from services.common.fence_routes import build_fence_router
from services.common.fences import Undo, nothing_to_void
from services.common.fields import issued_id_path
from services.common.idempotency import StoredAnswer
from services.common.keys import Mutation
from services.common.mutations import Outcome
from services.common.pagination import PageQuery
from services.hotel.models import CreateStayRequest, Stay, StayList, StayStatus
from services.hotel.store import HotelStays

StayId = Annotated[str, issued_id_path("stay", "st")]

_UNKNOWN_STAY = not_found("stay")


def build_router(database: Database) -> APIRouter:
    """The ``/stays`` routes and ``POST /fences`` over the given database."""
    stays = HotelStays(database)
    router = APIRouter()
    router.include_router(_stay_routes(stays))

    def void_stay(stored: StoredAnswer) -> Undo:
        """A fenced stay is cancelled, as its DELETE would."""
        if stored.request.path != "/stays":
            return nothing_to_void(stored)
        stay = stays.get(stored.body["id"])
        if stay.status is StayStatus.CANCELLED:
            return Undo(resource_id=stay.id, undone=False, detail=f"stay {stay.id} was already cancelled")
        stays.cancel(stay.id)
        return Undo(resource_id=stay.id, undone=True, detail=f"cancelled stay {stay.id}")

    router.include_router(build_fence_router(void_stay))
    return router


def _stay_routes(stays: HotelStays) -> APIRouter:
    router = APIRouter(prefix="/stays", tags=["stays"])

    @router.post(
        "",
        status_code=201,
        response_model=Stay,
        responses=error_docs(VALIDATED, IDEMPOTENT),
        summary="Book a room for some nights",
        operation_id="createStay",
    )
    async def create_stay(body: CreateStayRequest, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(body, lambda: Outcome.created(stays.book(body)))

    @router.delete(
        "/{stay_id}",
        response_model=Stay,
        responses=error_docs(VALIDATED, IDEMPOTENT, _UNKNOWN_STAY),
        summary="Cancel a stay; the record stays, as `cancelled`, and a repeat answers the same",
        operation_id="deleteStay",
    )
    async def delete_stay(stay_id: StayId, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(stays.cancel(stay_id)))

    # A deleted resource is gone from its own URL (RFC 9110), so a read after a DELETE is a 404 (its own code says why);
    # the hotel's record of it is kept in the listing, which audits read.
    @router.get(
        "/{stay_id}",
        responses=error_docs(_UNKNOWN_STAY, {404: "`stay_deleted`: the stay was deleted (`deleted_at`); listed still"}),
        summary="Read one booked stay",
        operation_id="readStay",
    )
    async def read_stay(stay_id: StayId) -> Stay:
        return stays.get_booked(stay_id)

    @router.get("", summary="List stays of every status, oldest first", operation_id="listStays")
    async def list_stays(page: PageQuery, trip_id: Annotated[str | None, Query(max_length=64)] = None) -> StayList:
        return StayList(stays=stays.list(page, trip_id))

    return router
