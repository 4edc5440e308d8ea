"""SQLite schema of the payment provider."""

SCHEMA = """
CREATE TABLE charges (
    id               TEXT PRIMARY KEY,
    order_id         TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('succeeded', 'failed')),
    -- Only the brand of the card is kept: the payment token is a credential.
    card_brand       TEXT NOT NULL,
    failure_code     TEXT,
    failure_message  TEXT,
    amount_refunded  INTEGER NOT NULL DEFAULT 0 CHECK (amount_refunded BETWEEN 0 AND amount),
    created_at       TEXT NOT NULL,
    CHECK (status = 'succeeded' OR amount_refunded = 0)
);
CREATE INDEX charges_by_order ON charges (order_id);

CREATE TABLE refunds (
    id          TEXT PRIMARY KEY,
    charge_id   TEXT NOT NULL REFERENCES charges (id),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX refunds_by_charge ON refunds (charge_id);
"""
