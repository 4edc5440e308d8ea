"""SQLite schema and first-run stock of the inventory service."""

from __future__ import annotations

import sqlite3

SCHEMA = """
CREATE TABLE stock (
    sku            TEXT PRIMARY KEY,
    on_hand        INTEGER NOT NULL CHECK (on_hand >= 0),
    reserved       INTEGER NOT NULL CHECK (reserved >= 0),
    -- What the SKU started with, so audits can check on_hand = seed - committed.
    seed_quantity  INTEGER NOT NULL,
    CHECK (reserved <= on_hand)
);

CREATE TABLE reservations (
    id          TEXT PRIMARY KEY,
    order_id    TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('held', 'committed', 'released')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
-- The store checks this too, but the database is the last line of defence
-- against an order holding stock twice.
CREATE UNIQUE INDEX one_live_reservation_per_order ON reservations (order_id) WHERE status IN ('held', 'committed');

CREATE TABLE reservation_lines (
    reservation_id  TEXT NOT NULL REFERENCES reservations (id),
    sku             TEXT NOT NULL REFERENCES stock (sku),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, sku)
);
"""

SEED_STOCK: dict[str, int] = {
    "SKU-BOOK": 1_000_000,
    "SKU-MUG": 1_000_000,
    "SKU-TSHIRT": 1_000_000,
    "SKU-POSTER": 1_000_000,
    "SKU-LAMP": 1_000_000,
    "SKU-OOS": 0,  # always out of stock: the saga's "reservation fails" path
}
"""Stock every new inventory database starts with."""

STOCKED_SKUS: tuple[str, ...] = tuple(SEED_STOCK)
"""Every SKU the inventory knows: no route adds one, so these are all there will ever be."""


def seed_stock(connection: sqlite3.Connection) -> None:
    """Put :data:`SEED_STOCK` on the shelves of a brand-new database."""
    connection.executemany(
        "INSERT INTO stock (sku, on_hand, reserved, seed_quantity) VALUES (?, ?, 0, ?)",
        [(sku, quantity, quantity) for sku, quantity in SEED_STOCK.items()],
    )
