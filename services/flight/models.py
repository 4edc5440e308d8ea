"""Airline request and response bodies."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from services.common.fields import Amount, Currency, RequestModel
from services.common.identifiers import id_pattern
from services.common.trips import IsoDate, Traveller, TravelRecord, TripId

AirportCode = Field(pattern=r"^[A-Z]{3}$", description="IATA airport code", examples=["BER"])


class BookingStatus(StrEnum):
    """held -> ticketed (irreversible), or held -> cancelled."""

    HELD = "held"
    TICKETED = "ticketed"
    CANCELLED = "cancelled"


class CreateBookingRequest(RequestModel):
    """Body of ``POST /bookings``."""

    trip_id: TripId
    traveller: Traveller
    origin: str = AirportCode
    destination: str = AirportCode
    departure_date: IsoDate
    amount: Amount
    currency: Currency


class Booking(TravelRecord):
    """A seat on a flight, as the airline records it."""

    id: str = Field(pattern=id_pattern("bk"))
    origin: str
    destination: str
    departure_date: date
    amount: int
    currency: str
    status: BookingStatus
    ticket_number: str | None = Field(default=None, description="Set once the booking is ticketed")


class BookingList(BaseModel):
    """Body of ``GET /bookings``."""

    bookings: list[Booking]
