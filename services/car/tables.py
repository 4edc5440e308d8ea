"""SQLite schema of the car rental."""

SCHEMA = """
CREATE TABLE rentals (
    id               TEXT PRIMARY KEY,
    -- The caller's name for the rental: how it finds a rental whose creation's answer it never got.
    reference        TEXT NOT NULL UNIQUE,
    trip_id          TEXT NOT NULL,
    traveller_name   TEXT NOT NULL,
    pickup_city      TEXT NOT NULL,
    pickup_date      TEXT NOT NULL,
    days             INTEGER NOT NULL CHECK (days BETWEEN 1 AND 60),
    amount           INTEGER NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('reserved', 'cancelled')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX rentals_by_trip ON rentals (trip_id);
"""
