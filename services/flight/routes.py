"""HTTP routes of the airline. Its idempotency keys arrive in ``X-Request-Key``, as some real APIs name them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from services.common.database import Database
from services.common.error_docs import VALIDATED, ErrorGroup, error_docs, keyed, not_found
from services.common.fence_routes import build_fence_router
from services.common.fences import Undo, nothing_to_void
from services.common.fields import issued_id_path
from services.common.idempotency import StoredAnswer
from services.common.keys import keyed_by
from services.common.mutations import IdempotentMutation, Outcome
from services.common.pagination import PageQuery
from services.flight.models import Booking, BookingList, BookingStatus, CreateBookingRequest
from services.flight.store import FlightBookings, ticketed_error

REQUEST_KEY_HEADER = "X-Request-Key"

RequestKeyed = Annotated[IdempotentMutation, Depends(keyed_by(REQUEST_KEY_HEADER))]
BookingId = Annotated[str, issued_id_path("booking", "bk")]

_KEYED = keyed(REQUEST_KEY_HEADER)
_UNKNOWN_BOOKING = not_found("booking")
_TICKETED: ErrorGroup = {409: "`booking_ticketed`: the booking is ticketed, which cannot be undone"}


def build_router(database: Database) -> APIRouter:
    """The ``/bookings`` routes and ``POST /fences`` over the given database."""
    bookings = FlightBookings(database)
    router = APIRouter()
    router.include_router(_booking_routes(bookings))

    def void_booking(stored: StoredAnswer) -> Undo:
        """A fenced booking is cancelled; a ticketed one cannot be, and its fence is refused (nothing is fenced)."""
        if stored.request.path != "/bookings":
            return nothing_to_void(stored)
        booking = bookings.get(stored.body["id"])
        if booking.status is BookingStatus.CANCELLED:
            return Undo(resource_id=booking.id, undone=False, detail=f"booking {booking.id} was already cancelled")
        if booking.status is BookingStatus.TICKETED:
            raise ticketed_error(booking)
        bookings.cancel(booking.id)
        return Undo(resource_id=booking.id, undone=True, detail=f"cancelled booking {booking.id} (was held)")

    router.include_router(build_fence_router(void_booking, key_header=REQUEST_KEY_HEADER, refusals=_TICKETED))
    return router


def _booking_routes(bookings: FlightBookings) -> APIRouter:
    router = APIRouter(prefix="/bookings", tags=["bookings"])

    @router.post(
        "",
        status_code=201,
        response_model=Booking,
        responses=error_docs(VALIDATED, _KEYED),
        summary="Hold a seat for a traveller",
        operation_id="createBooking",
    )
    async def create_booking(body: CreateBookingRequest, mutation: RequestKeyed) -> JSONResponse:
        return await mutation.apply(body, lambda: Outcome.created(bookings.book(body)))

    @router.post(
        "/{booking_id}/ticket",
        response_model=Booking,
        responses=error_docs(
            VALIDATED,
            _KEYED,
            _UNKNOWN_BOOKING,
            {409: "`invalid_state`: the booking is cancelled and cannot be ticketed (`status` says so)"},
        ),
        summary="Issue the ticket: irreversible, the booking can no longer be cancelled (no-op if ticketed)",
        operation_id="ticketBooking",
    )
    async def ticket_booking(booking_id: BookingId, mutation: RequestKeyed) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(bookings.ticket(booking_id)))

    @router.post(
        "/{booking_id}/cancel",
        response_model=Booking,
        responses=error_docs(VALIDATED, _KEYED, _UNKNOWN_BOOKING, _TICKETED),
        summary="Cancel a held booking (no-op if cancelled); refused once ticketed",
        operation_id="cancelBooking",
    )
    async def cancel_booking(booking_id: BookingId, mutation: RequestKeyed) -> JSONResponse:
        return await mutation.apply(None, lambda: Outcome.ok(bookings.cancel(booking_id)))

    @router.get(
        "/{booking_id}", responses=error_docs(_UNKNOWN_BOOKING), summary="Read one booking", operation_id="readBooking"
    )
    async def read_booking(booking_id: BookingId) -> Booking:
        return bookings.get(booking_id)

    @router.get("", summary="List bookings, oldest first", operation_id="listBookings")
    async def list_bookings(
        page: PageQuery, trip_id: Annotated[str | None, Query(max_length=64)] = None
    ) -> BookingList:
        return BookingList(bookings=bookings.list(page, trip_id))

    return router
