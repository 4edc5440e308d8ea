"""HTTP routes of the car rental: no ``POST /fences``; its callers undo by reference (look up, then cancel)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from services.car.models import CreateRentalRequest, Rental, RentalList
from services.car.store import CarRentals
from services.common.database import Database
from services.common.error_docs import IDEMPOTENT, VALIDATED, error_docs, lifecycle_move, not_found
from services.common.fields import issued_id_path
from services.common.keys import Mutation
from services.common.mutations import Outcome
from services.common.pagination import PageQuery

RentalId = Annotated[str, issued_id_path("rental", "rn")]


def build_router(database: Database) -> APIRouter:
    """The ``/rentals`` routes over the given database."""
    rentals = CarRentals(database)
    router = APIRouter(prefix="/rentals", tags=["rentals"])

    @router.post(
        "",
        status_code=201,
        response_model=Rental,
        responses=error_docs(
            VALIDATED,
            IDEMPOTENT,
            {409: "`reference_exists`: another rental has this `reference` (`rental_id` names it); nothing was done"},
        ),
        summary="Reserve a car under the caller's reference",
        operation_id="createRental",
    )
    async def create_rental(body: CreateRentalRequest, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(body, lambda: Outcome.created(rentals.rent(body)))

    @router.post(
        "/{rental_id}/cancel",
        response_model=Rental,
        responses=lifecycle_move("rental"),
        summary="Cancel a rental (no-op if cancelled)",
        operation_id="cancelRental",
    )
    async def cancel_rental(rental_id: RentalId, mutation: Mutation) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(rentals.cancel(rental_id)))

    @router.get(
        "/{rental_id}", responses=error_docs(not_found("rental")), summary="Read one rental", operation_id="readRental"
    )
    async def read_rental(rental_id: RentalId) -> Rental:
        return rentals.get(rental_id)

    @router.get(
        "", summary="List rentals of every status, oldest first; by reference to find one", operation_id="listRentals"
    )
    async def list_rentals(
        page: PageQuery,
        reference: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
        trip_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> RentalList:
        return RentalList(rentals=rentals.list(page, reference, trip_id))

    return router
