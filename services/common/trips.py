"""Fields the travel services (flight, hotel, car) share: the trip, the traveller and calendar dates."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field

from services.common.fields import ExternalId, RequestModel
from services.common.lifecycle import TrackedRecord

_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _full_date(value: object) -> object:
    # JSON Schema's `format: date` is RFC 3339's full-date only: date.fromisoformat would also take `20260301` and
    # week dates, and pydantic's lax mode Unix timestamps; a contract that says "date" accepts exactly that.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _FULL_DATE.match(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return date.fromisoformat(value)


IsoDate = Annotated[date, BeforeValidator(_full_date), Field(examples=["2026-03-01"])]
"""A calendar date, ``YYYY-MM-DD``."""

TripId = Annotated[ExternalId, Field(description="The caller's trip: every booking of one journey shares it")]


class Traveller(RequestModel):
    """Who travels; no card or passport data is ever sent to these services."""

    name: str = Field(min_length=1, max_length=200, examples=["Ada Lovelace"])


class TravelRecord(TrackedRecord):
    """What every travel service records about a booking of its kind: the trip and who travels.

    Tables keep the traveller flattened into a ``traveller_name`` column; these two methods are the only places that
    know it.
    """

    trip_id: str
    traveller: Traveller

    def as_row(self) -> dict[str, Any]:
        """The record as its table's columns."""
        return {**self.model_dump(mode="json", exclude={"traveller"}), "traveller_name": self.traveller.name}

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Self:
        """The record a row of its table holds."""
        values = dict(row)
        traveller = {"name": values.pop("traveller_name")}
        return cls.model_validate({**values, "traveller": traveller})
