"""The ERP's order book: SQL and the order state machine."""

from __future__ import annotations

import json
import sqlite3

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import utc_now
from services.common.lifecycle import Lifecycle
from services.common.pagination import Page, fetch_page
from services.erp.models import CreateOrderRequest, Order, OrderStatus
from services.erp.tables import ADDED_COLUMNS

ORDER_LIFECYCLE: Lifecycle[Order] = Lifecycle(
    noun="order",
    table="orders",
    id_column="order_id",
    transitions={
        (OrderStatus.PENDING, OrderStatus.CONFIRMED),
        (OrderStatus.PENDING, OrderStatus.CANCELLED),
        (OrderStatus.CONFIRMED, OrderStatus.CANCELLED),
    },
)
"""pending -> confirmed -> cancelled, or pending -> cancelled; a cancelled order stays cancelled."""


class OrderBook:
    """Reads and changes orders; mutating methods expect to run inside a transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # A database from before the customer's contact details existed (a kept `cadenza up` state folder) gains the
        # columns, empty for its old orders; the version stamp of services.common.database only knows "initialised".
        present = {row["name"] for row in self._database.fetch_all("PRAGMA table_info(orders)")}
        with self._database.transaction():
            for column, kind in ADDED_COLUMNS.items():
                if column not in present:
                    self._database.execute(f"ALTER TABLE orders ADD COLUMN {column} {kind}")

    def create(self, request: CreateOrderRequest) -> Order:
        """Record a new pending order; 409 ``order_exists`` if the id is taken."""
        if self.find(request.order_id) is not None:
            raise ServiceError(
                409, "order_exists", f"Order {request.order_id!r} already exists", order_id=request.order_id
            )
        now = utc_now()
        order = Order(**request.model_dump(), status=OrderStatus.PENDING, created_at=now, updated_at=now)
        self._database.insert(
            "orders",
            {
                **order.model_dump(exclude={"lines", "shipping_address"}),
                "lines_json": json.dumps([line.model_dump() for line in order.lines]),
                "shipping_address_json": (
                    None if order.shipping_address is None else json.dumps(order.shipping_address.model_dump())
                ),
            },
        )
        return order

    def find(self, order_id: str) -> Order | None:
        """The order, or ``None``."""
        row = self._database.fetch_one("SELECT * FROM orders WHERE order_id = ?", (order_id,))
        return None if row is None else _order_from_row(row)

    def get(self, order_id: str) -> Order:
        """The order; 404 ``order_not_found`` if there is none."""
        order = self.find(order_id)
        if order is None:
            raise ServiceError(404, "order_not_found", f"No order {order_id!r}", order_id=order_id)
        return order

    def list(self, page: Page) -> list[Order]:
        """Orders, oldest first."""
        return [_order_from_row(row) for row in fetch_page(self._database, "orders", page)]

    def transition(self, order_id: str, target: OrderStatus) -> Order:
        """Move an order to ``target`` (no-op if it is there already); 409 ``invalid_state`` if forbidden."""
        return ORDER_LIFECYCLE.advance(self._database, self.get(order_id), target)


def _order_from_row(row: sqlite3.Row) -> Order:
    address = row["shipping_address_json"]
    return Order.model_validate(
        {**dict(row), "lines": json.loads(row["lines_json"]), "shipping_address": address and json.loads(address)}
    )
