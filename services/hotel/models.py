"""Hotel request and response bodies."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from services.common.fields import Amount, Currency, RequestModel, WholeNumber
from services.common.identifiers import id_pattern
from services.common.trips import IsoDate, Traveller, TravelRecord, TripId

MAX_NIGHTS = 60


class StayStatus(StrEnum):
    """booked -> cancelled (by DELETE)."""

    BOOKED = "booked"
    CANCELLED = "cancelled"


class CreateStayRequest(RequestModel):
    """Body of ``POST /stays``."""

    trip_id: TripId
    traveller: Traveller
    city: str = Field(min_length=1, max_length=100, examples=["Lisbon"])
    check_in: IsoDate
    nights: WholeNumber = Field(ge=1, le=MAX_NIGHTS)
    amount: Amount
    currency: Currency


class Stay(TravelRecord):
    """A room for some nights, as the hotel records it."""

    id: str = Field(pattern=id_pattern("st"))
    city: str
    check_in: date
    nights: int
    amount: int
    currency: str
    status: StayStatus


class StayList(BaseModel):
    """Body of ``GET /stays``."""

    stays: list[Stay]
