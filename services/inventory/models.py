"""Inventory request and response bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field

from services.common.fields import ExternalId, RequestModel, WholeNumber
from services.common.identifiers import id_pattern
from services.common.lifecycle import TrackedRecord
from services.inventory.tables import STOCKED_SKUS

# The enum is published, not enforced here: the warehouse answers any other SKU with its own 422 `unknown_sku`
# naming it (and `GET /stock/{sku}` with 404), which callers already branch on.
StockedSku = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="A stocked SKU; any other answers 422 `unknown_sku`",
        examples=["SKU-BOOK"],
        json_schema_extra={"enum": list(STOCKED_SKUS)},
    ),
]

# "Each SKU at most once" in JSON Schema 2020-12: for every stocked SKU, at most one line contains it.
_EACH_SKU_ONCE = {
    "allOf": [
        {"contains": {"properties": {"sku": {"const": sku}}}, "minContains": 0, "maxContains": 1}
        for sku in STOCKED_SKUS
    ]
}


class ReservationStatus(StrEnum):
    """held -> committed (goods shipped) or released (goods back on the shelf)."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


class ReservationLine(RequestModel):
    """A quantity of one SKU."""

    sku: StockedSku
    # Far above any stock level, far below SQLite's 64-bit limit.
    quantity: WholeNumber = Field(ge=1, le=10**9)


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
    lines: Annotated[
        list[ReservationLine],
        Field(
            min_length=1,
            max_length=100,
            description="One line per SKU; a SKU on two lines is a 422 `validation_error`",
            json_schema_extra=_EACH_SKU_ONCE,
        ),
        AfterValidator(_reject_duplicate_skus),
    ]


class Reservation(TrackedRecord):
    """Stock set aside for one order."""

    id: str = Field(pattern=id_pattern("res"))
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
