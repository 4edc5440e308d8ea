"""The warehouse: stock levels and the reservations that move them."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import new_id, utc_now
from services.common.lifecycle import Lifecycle
from services.common.pagination import Page, fetch_page
from services.inventory.models import (
    CreateReservationRequest,
    Reservation,
    ReservationLine,
    ReservationStatus,
    StockLevel,
)

# How each reservation transition moves stock, per unit of every line, as
# (on_hand, reserved) multipliers. The keys are also the complete list of
# allowed transitions. Releasing a committed reservation puts the goods back
# on the shelf, so compensation works even after a commit.
_STOCK_MOVES: dict[tuple[ReservationStatus | None, ReservationStatus], tuple[int, int]] = {
    (None, ReservationStatus.HELD): (0, +1),
    (ReservationStatus.HELD, ReservationStatus.COMMITTED): (-1, -1),
    (ReservationStatus.HELD, ReservationStatus.RELEASED): (0, -1),
    (ReservationStatus.COMMITTED, ReservationStatus.RELEASED): (+1, 0),
}

RESERVATION_LIFECYCLE: Lifecycle[Reservation] = Lifecycle(
    noun="reservation",
    table="reservations",
    id_column="id",
    transitions={(source, target) for source, target in _STOCK_MOVES if source is not None},
)
"""held -> committed -> released, or held -> released; a released reservation stays released."""


class Warehouse:
    """Reads stock and reservations and changes them; mutating methods expect a transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # -- stock -------------------------------------------------------------

    def find_stock(self, sku: str) -> StockLevel | None:
        """Stock of one SKU, or ``None`` for an unknown SKU."""
        row = self._database.fetch_one("SELECT * FROM stock WHERE sku = ?", (sku,))
        return None if row is None else _stock_from_row(row)

    def get_stock(self, sku: str) -> StockLevel:
        """Stock of one SKU; 404 ``sku_not_found`` for an unknown SKU."""
        level = self.find_stock(sku)
        if level is None:
            raise ServiceError(404, "sku_not_found", f"No SKU {sku!r}", sku=sku)
        return level

    def list_stock(self) -> list[StockLevel]:
        """Stock of every SKU, by SKU."""
        return [_stock_from_row(row) for row in self._database.fetch_all("SELECT * FROM stock ORDER BY sku")]

    # -- reservations ------------------------------------------------------

    def reserve(self, request: CreateReservationRequest) -> Reservation:
        """Hold stock for every line of an order, or for none of them."""
        live = self._live_reservation(request.order_id)
        if live is not None:
            raise ServiceError(
                409,
                "reservation_exists",
                f"Order {request.order_id!r} already has {live.status.value} reservation {live.id!r}",
                reservation_id=live.id,
                status=live.status.value,
            )
        self._check_availability(request.lines)
        now = utc_now()
        reservation = Reservation(
            id=new_id("res"),
            order_id=request.order_id,
            status=ReservationStatus.HELD,
            lines=request.lines,
            created_at=now,
            updated_at=now,
        )
        self._database.insert("reservations", reservation.model_dump(exclude={"lines"}))
        for line in reservation.lines:
            self._database.insert("reservation_lines", {"reservation_id": reservation.id, **line.model_dump()})
        self._move_stock(reservation.lines, None, ReservationStatus.HELD)
        return reservation

    def commit(self, reservation_id: str) -> Reservation:
        """Ship held goods: they leave the shelf for good."""
        return self._transition(reservation_id, ReservationStatus.COMMITTED)

    def release(self, reservation_id: str) -> Reservation:
        """Give held or committed goods back to available stock."""
        return self._transition(reservation_id, ReservationStatus.RELEASED)

    def get_reservation(self, reservation_id: str) -> Reservation:
        """One reservation; 404 ``reservation_not_found`` if there is none."""
        row = self._database.fetch_one("SELECT * FROM reservations WHERE id = ?", (reservation_id,))
        if row is None:
            raise ServiceError(
                404, "reservation_not_found", f"No reservation {reservation_id!r}", reservation_id=reservation_id
            )
        return self._reservation_from_row(row)

    def list_reservations(self, page: Page, order_id: str | None = None) -> list[Reservation]:
        """Reservations, oldest first, optionally of one order."""
        rows = fetch_page(self._database, "reservations", page, order_id=order_id)
        return [self._reservation_from_row(row) for row in rows]

    def _check_availability(self, lines: Sequence[ReservationLine]) -> None:
        levels = {line.sku: self.find_stock(line.sku) for line in lines}
        for sku, level in levels.items():
            if level is None:
                raise ServiceError(422, "unknown_sku", f"SKU {sku!r} is not stocked", sku=sku)
        for line in lines:
            available = levels[line.sku].available  # type: ignore[union-attr]  # None ruled out above
            if line.quantity > available:
                raise ServiceError(
                    409,
                    "out_of_stock",
                    f"Only {available} of {line.sku!r} available, {line.quantity} requested; nothing was reserved",
                    sku=line.sku,
                    requested=line.quantity,
                    available=available,
                )

    def _transition(self, reservation_id: str, target: ReservationStatus) -> Reservation:
        reservation = self.get_reservation(reservation_id)
        updated = RESERVATION_LIFECYCLE.advance(self._database, reservation, target)
        if updated.status != reservation.status:
            self._move_stock(reservation.lines, reservation.status, target)
        return updated

    def _move_stock(
        self, lines: Sequence[ReservationLine], source: ReservationStatus | None, target: ReservationStatus
    ) -> None:
        on_hand_per_unit, reserved_per_unit = _STOCK_MOVES[(source, target)]
        for line in lines:
            self._database.execute(
                "UPDATE stock SET on_hand = on_hand + ?, reserved = reserved + ? WHERE sku = ?",
                (on_hand_per_unit * line.quantity, reserved_per_unit * line.quantity, line.sku),
            )

    def _live_reservation(self, order_id: str) -> Reservation | None:
        row = self._database.fetch_one(
            "SELECT * FROM reservations WHERE order_id = ? AND status IN ('held', 'committed')", (order_id,)
        )
        return None if row is None else self._reservation_from_row(row)

    def _reservation_from_row(self, row: sqlite3.Row) -> Reservation:
        lines = self._database.fetch_all(
            "SELECT sku, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY rowid", (row["id"],)
        )
        return Reservation.model_validate({**dict(row), "lines": [dict(line) for line in lines]})


def _stock_from_row(row: sqlite3.Row) -> StockLevel:
    return StockLevel(
        sku=row["sku"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
        available=row["on_hand"] - row["reserved"],
        seed_quantity=row["seed_quantity"],
    )
