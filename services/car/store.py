"""The car rental's records: SQL, the reference rule and the one move a rental makes."""

from __future__ import annotations

from services.car.models import CreateRentalRequest, Rental, RentalStatus
from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import new_id, utc_now
from services.common.lifecycle import Lifecycle
from services.common.pagination import Page, fetch_page

RENTAL_LIFECYCLE: Lifecycle[Rental] = Lifecycle(
    noun="rental", table="rentals", id_column="id", transitions={(RentalStatus.RESERVED, RentalStatus.CANCELLED)}
)
"""reserved -> cancelled; cancelling again is a no-op."""


class CarRentals:
    """Reads and changes rentals; mutating methods expect to run inside a transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def rent(self, request: CreateRentalRequest) -> Rental:
        """Reserve a car; 409 ``reference_exists`` (naming the rental) when the reference is taken, cancelled or not."""
        existing = self._database.fetch_value("SELECT id FROM rentals WHERE reference = ?", (request.reference,))
        if existing is not None:
            raise ServiceError(
                409,
                "reference_exists",
                f"Reference {request.reference!r} already names rental {existing!r}",
                reference=request.reference,
                rental_id=existing,
            )
        now = utc_now()
        rental = Rental(
            id=new_id("rn"), **request.model_dump(), status=RentalStatus.RESERVED, created_at=now, updated_at=now
        )
        self._database.insert(
            "rentals",
            rental.as_row(),
        )
        return rental

    def get(self, rental_id: str) -> Rental:
        """The rental; 404 ``rental_not_found`` if there is none."""
        row = self._database.fetch_one("SELECT * FROM rentals WHERE id = ?", (rental_id,))
        if row is None:
            raise ServiceError(404, "rental_not_found", f"No rental {rental_id!r}", rental_id=rental_id)
        return Rental.from_row(row)

    def list(self, page: Page, reference: str | None, trip_id: str | None) -> list[Rental]:
        """Rentals of every status, oldest first, optionally of one reference and/or trip."""
        rows = fetch_page(self._database, "rentals", page, reference=reference, trip_id=trip_id)
        return [Rental.from_row(row) for row in rows]

    def cancel(self, rental_id: str) -> Rental:
        """Cancel a rental (no-op if cancelled)."""
        return RENTAL_LIFECYCLE.advance(self._database, self.get(rental_id), RentalStatus.CANCELLED)
