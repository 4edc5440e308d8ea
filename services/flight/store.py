"""The airline's bookings: SQL and the booking state machine."""

from __future__ import annotations

import secrets

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import new_id, utc_now
from services.common.lifecycle import Lifecycle
from services.common.pagination import Page, fetch_page
from services.flight.models import Booking, BookingStatus, CreateBookingRequest

BOOKING_LIFECYCLE: Lifecycle[Booking] = Lifecycle(
    noun="booking",
    table="bookings",
    id_column="id",
    transitions={(BookingStatus.HELD, BookingStatus.TICKETED), (BookingStatus.HELD, BookingStatus.CANCELLED)},
)
"""held -> ticketed or held -> cancelled; both are final."""


def ticketed_error(booking: Booking) -> ServiceError:
    """The answer to undoing a ticketed booking: a ticket, once issued, is not taken back."""
    return ServiceError(
        409,
        "booking_ticketed",
        f"Booking {booking.id!r} is ticketed ({booking.ticket_number}) and can no longer be cancelled",
        booking_id=booking.id,
        ticket_number=booking.ticket_number,
    )


class FlightBookings:
    """Reads and changes bookings; mutating methods expect to run inside a transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def book(self, request: CreateBookingRequest) -> Booking:
        """Hold a seat; several bookings per trip are allowed, as at a real airline."""
        now = utc_now()
        booking = Booking(
            id=new_id("bk"), **request.model_dump(), status=BookingStatus.HELD, created_at=now, updated_at=now
        )
        self._database.insert("bookings", booking.as_row())
        return booking

    def get(self, booking_id: str) -> Booking:
        """The booking; 404 ``booking_not_found`` if there is none."""
        row = self._database.fetch_one("SELECT * FROM bookings WHERE id = ?", (booking_id,))
        if row is None:
            raise ServiceError(404, "booking_not_found", f"No booking {booking_id!r}", booking_id=booking_id)
        return Booking.from_row(row)

    def list(self, page: Page, trip_id: str | None) -> list[Booking]:
        """Bookings, oldest first, optionally of one trip."""
        return [Booking.from_row(row) for row in fetch_page(self._database, "bookings", page, trip_id=trip_id)]

    def ticket(self, booking_id: str) -> Booking:
        """Issue the ticket (no-op if issued); 409 ``invalid_state`` for a cancelled booking."""
        booking = self.get(booking_id)
        ticketed = BOOKING_LIFECYCLE.advance(self._database, booking, BookingStatus.TICKETED)
        if booking.status is BookingStatus.TICKETED:
            return ticketed
        number = f"TK-{secrets.token_hex(5).upper()}"
        self._database.execute("UPDATE bookings SET ticket_number = ? WHERE id = ?", (number, booking_id))
        return ticketed.model_copy(update={"ticket_number": number})

    def cancel(self, booking_id: str) -> Booking:
        """Cancel a held booking (no-op if cancelled); 409 ``booking_ticketed`` once ticketed."""
        booking = self.get(booking_id)
        if booking.status is BookingStatus.TICKETED:
            raise ticketed_error(booking)
        return BOOKING_LIFECYCLE.advance(self._database, booking, BookingStatus.CANCELLED)
