"""Inventory request and response bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from services.common.fields import ExternalId, RequestModel, Sku
from services.common.lifecycle import TrackedRecord


class ReservationStatus(StrEnum):
    """held -> committed (goods shipped) or released (goods back on the shelf)."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


class ReservationLine(RequestModel):
    """A quantity of one SKU."""

    sku: Sku
    # Far above any stock level, far below SQLite's 64-bit limit.
    quantity: int = Field(ge=1, le=10**9)


def _reject_duplicate_skus(lines: list[ReservationLine]) -> list[ReservationLine]:
    seen: set[str] = set()
    for line in lines:
        if line.sku in seen:
            raise ValueError(f"SKU {line.sku!r} appears more than once; merge the quantities into one line")
        seen.add(line.sku)
    return lines


class CreateReservationRequest(RequestModel):
    """Body of ``POST /reservations``."""

    order_id: ExternalId
    lines: Annotated[list[ReservationLine], Field(min_length=1, max_length=100), AfterValidator(_reject_duplicate_skus)]


class Reservation(TrackedRecord):
    """Stock set aside for one order."""

    id: str
    order_id: str
    status: ReservationStatus
    lines: list[ReservationLine]


class ReservationList(BaseModel):
    """Body of ``GET /reservations``."""

    reservations: list[Reservation]


class StockLevel(BaseModel):
    """Stock of one SKU. ``on_hand == seed_quantity - committed`` holds for a consistent history."""

    sku: str
    on_hand: int
    reserved: int
    available: int
    seed_quantity: int


class StockList(BaseModel):
    """Body of ``GET /stock``."""

    stock: list[StockLevel]
