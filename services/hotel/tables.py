"""SQLite schema of the hotel."""

SCHEMA = """
CREATE TABLE stays (
    id               TEXT PRIMARY KEY,
    trip_id          TEXT NOT NULL,
    traveller_name   TEXT NOT NULL,
    city             TEXT NOT NULL,
    check_in         TEXT NOT NULL,
    nights           INTEGER NOT NULL CHECK (nights BETWEEN 1 AND 60),
    amount           INTEGER NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    -- A deleted stay is kept as cancelled: the record of what the hotel did outlives the booking.
    status           TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX stays_by_trip ON stays (trip_id);
"""
