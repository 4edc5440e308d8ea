"""SQLite schema of the ERP."""

SCHEMA = """
CREATE TABLE orders (
    order_id      TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    total_amount  INTEGER NOT NULL CHECK (total_amount > 0),
    -- Lines are written once with the order and only ever read back whole.
    lines_json    TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
"""
