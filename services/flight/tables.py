"""SQLite schema of the airline."""

SCHEMA = """
CREATE TABLE bookings (
    id               TEXT PRIMARY KEY,
    trip_id          TEXT NOT NULL,
    traveller_name   TEXT NOT NULL,
    origin           TEXT NOT NULL,
    destination      TEXT NOT NULL,
    departure_date   TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    currency         TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('held', 'ticketed', 'cancelled')),
    -- Issued when the booking is ticketed, and only then.
    ticket_number    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK (ticket_number IS NULL OR status = 'ticketed')
);
CREATE INDEX bookings_by_trip ON bookings (trip_id);
"""
