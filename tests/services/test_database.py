"""The services' SQLite layer: a failed COMMIT must not poison the connection, and two processes opening one fresh
file at once must create and seed it exactly once."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from services.common.database import Database
from services.common.idempotency import IDEMPOTENCY_SCHEMA
from services.inventory.tables import SCHEMA as INVENTORY_SCHEMA
from services.inventory.tables import SEED_STOCK, seed_stock

# A deferred foreign key is checked at COMMIT, so a violation makes the COMMIT itself fail — and SQLite then leaves
# the transaction open (https://sqlite.org/foreignkeys.html#fk_deferred). A real, deterministic failed commit.
DEFERRED_FK_SCHEMA = """
CREATE TABLE parents (id TEXT PRIMARY KEY);
CREATE TABLE children (
    id         TEXT PRIMARY KEY,
    parent_id  TEXT NOT NULL REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED
)
"""


def test_a_failed_commit_is_rolled_back_and_the_next_transaction_works(tmp_path: Path) -> None:
    database = Database(tmp_path / "fk.db", DEFERRED_FK_SCHEMA)

    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), database.transaction():
        database.insert("children", {"id": "orphan", "parent_id": "nobody"})

    # Before the fix the connection was still inside the failed transaction: this BEGIN raised "cannot start a
    # transaction within a transaction", and so did every later request's, until the service was restarted.
    with database.transaction():
        database.insert("parents", {"id": "p1"})
        database.insert("children", {"id": "c1", "parent_id": "p1"})

    assert [tuple(row) for row in database.fetch_all("SELECT id, parent_id FROM children")] == [("c1", "p1")]
    database.close()


def test_two_processes_initialising_one_fresh_file_create_and_seed_it_once(tmp_path: Path) -> None:
    path = tmp_path / "inventory.db"
    seed_runs: list[str] = []
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def slow_seed(connection: sqlite3.Connection) -> None:
        # Holding the initialisation open for a while lets the other opener look at the file meanwhile: before the
        # fix it read user_version 0 there, then created the tables again once the first one committed.
        seed_runs.append(threading.current_thread().name)
        time.sleep(0.5)
        seed_stock(connection)

    def open_database() -> None:
        try:
            start.wait()
            Database(path, INVENTORY_SCHEMA + IDEMPOTENCY_SCHEMA, slow_seed).close()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    # Two connections in two threads lock a SQLite file exactly as two processes do (no shared cache).
    openers = [threading.Thread(target=open_database, name=f"opener-{n}") for n in (1, 2)]
    for opener in openers:
        opener.start()
    for opener in openers:
        opener.join(timeout=30)

    assert errors == []
    assert len(seed_runs) == 1
    database = Database(path, INVENTORY_SCHEMA + IDEMPOTENCY_SCHEMA, slow_seed)
    stock = {row["sku"]: row["on_hand"] for row in database.fetch_all("SELECT sku, on_hand FROM stock")}
    assert stock == SEED_STOCK
    assert len(seed_runs) == 1  # reopening an initialised file seeds nothing
    database.close()
