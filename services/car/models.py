"""Car rental request and response bodies."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from services.common.fields import Amount, Currency, RequestModel, WholeNumber
from services.common.identifiers import id_pattern
from services.common.trips import IsoDate, Traveller, TravelRecord, TripId

MAX_DAYS = 60


class RentalStatus(StrEnum):
    """reserved -> cancelled."""

    RESERVED = "reserved"
    CANCELLED = "cancelled"


class CreateRentalRequest(RequestModel):
    """Body of ``POST /rentals``."""

    # As long and as free as an idempotency key: callers (a saga) name a rental by the key of the call that made it.
    reference: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="The caller's unique name for this rental (printable ASCII, no spaces, e.g. its idempotency key); "
        "`GET /rentals?reference=` finds it again",
        examples=["trip-7-car"],
    )
    trip_id: TripId
    traveller: Traveller
    pickup_city: str = Field(min_length=1, max_length=100, examples=["Lisbon"])
    pickup_date: IsoDate
    days: WholeNumber = Field(ge=1, le=MAX_DAYS)
    amount: Amount
    currency: Currency


class Rental(TravelRecord):
    """A car for some days, as the rental company records it."""

    id: str = Field(pattern=id_pattern("rn"))
    reference: str
    pickup_city: str
    pickup_date: date
    days: int
    amount: int
    currency: str
    status: RentalStatus


class RentalList(BaseModel):
    """Body of ``GET /rentals``."""

    rentals: list[Rental]
