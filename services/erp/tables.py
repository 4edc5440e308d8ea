"""SQLite schema of the ERP."""

# Columns added after the first release: `OrderBook` adds them to an ERP database created before them.
ADDED_COLUMNS = {"customer_name": "TEXT", "customer_email": "TEXT", "shipping_address_json": "TEXT"}

SCHEMA = """
CREATE TABLE orders (
    order_id      TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    total_amount  INTEGER NOT NULL CHECK (total_amount > 0),
    -- Lines are written once with the order and only ever read back whole.
    lines_json    TEXT NOT NULL,
    customer_name  TEXT,
    customer_email TEXT,
    -- The address as JSON, like the lines: written once, read back whole.
    shipping_address_json TEXT,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
"""
