"""The hotel's stays: SQL and the one move a stay makes."""

from __future__ import annotations

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import new_id, utc_now
from services.common.lifecycle import Lifecycle
from services.common.pagination import Page, fetch_page
from services.hotel.models import CreateStayRequest, Stay, StayStatus

STAY_LIFECYCLE: Lifecycle[Stay] = Lifecycle(
    noun="stay", table="stays", id_column="id", transitions={(StayStatus.BOOKED, StayStatus.CANCELLED)}
)
"""booked -> cancelled, and cancelled stays cancelled: a repeated DELETE is a no-op with the same answer."""


class HotelStays:
    """Reads and changes stays; mutating methods expect to run inside a transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def book(self, request: CreateStayRequest) -> Stay:
        """Book a room."""
        now = utc_now()
        stay = Stay(id=new_id("st"), **request.model_dump(), status=StayStatus.BOOKED, created_at=now, updated_at=now)
        self._database.insert(
            "stays",
            stay.as_row(),
        )
        return stay

    def get(self, stay_id: str) -> Stay:
        """The stay, cancelled or not; 404 ``stay_not_found`` if there is none."""
        row = self._database.fetch_one("SELECT * FROM stays WHERE id = ?", (stay_id,))
        if row is None:
            raise ServiceError(404, "stay_not_found", f"No stay {stay_id!r}", stay_id=stay_id)
        return Stay.from_row(row)

    def get_booked(self, stay_id: str) -> Stay:
        """The stay while it is booked; 404 ``stay_deleted`` once deleted (it stays in the listing, as cancelled)."""
        stay = self.get(stay_id)
        if stay.status is StayStatus.CANCELLED:
            raise ServiceError(
                404,
                "stay_deleted",
                f"Stay {stay_id!r} was deleted at {stay.updated_at}; GET /stays?trip_id= still lists it, as cancelled",
                stay_id=stay_id,
                deleted_at=stay.updated_at,
            )
        return stay

    def list(self, page: Page, trip_id: str | None) -> list[Stay]:
        """Stays of every status, oldest first, optionally of one trip."""
        return [Stay.from_row(row) for row in fetch_page(self._database, "stays", page, trip_id=trip_id)]

    def cancel(self, stay_id: str) -> Stay:
        """Cancel a stay; a cancelled one is returned as it is, so every repeat answers the same."""
        return STAY_LIFECYCLE.advance(self._database, self.get(stay_id), StayStatus.CANCELLED)
