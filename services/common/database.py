"""A service's SQLite file: opened, initialised and seeded once, then used through explicit transactions."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SeedData = Callable[[sqlite3.Connection], None]
"""Fills freshly created tables; runs exactly once in the life of a database file."""

SqlParams = Sequence[Any]

# PRAGMA user_version starts at 0 in a new file; we bump it once the schema and
# seed data are in, which is how "first creation" is told apart from a restart.
_INITIALISED_VERSION = 1
_BUSY_TIMEOUT_MS = 5000


class Database:
    """One SQLite connection in WAL mode, owned by one service process.

    All route handlers run on the event-loop thread and SQLite calls here take
    microseconds, so a single connection used synchronously is both the
    simplest and the safest arrangement: no cross-thread sharing, no pool.
    """

    def __init__(self, path: str | Path, schema: str, seed_data: SeedData | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None hands transaction control to us (explicit BEGIN /
        # SAVEPOINT) instead of the sqlite3 module's implicit transactions.
        self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._connection.row_factory = sqlite3.Row
        # The busy timeout first: everything after it may meet another process opening the same file.
        self._connection.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        self._use_wal()
        self._connection.execute("PRAGMA foreign_keys=ON")
        self._initialise(schema, seed_data)

    def _use_wal(self) -> None:
        # Switching a fresh file to WAL needs it to itself, and SQLite answers "database is locked" at once (the busy
        # timeout does not apply) while another process is switching or initialising it: wait our turn.
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _initialise(self, schema: str, seed_data: SeedData | None) -> None:
        if self.fetch_value("PRAGMA user_version") == _INITIALISED_VERSION:
            return
        with self.transaction():
            # Two processes starting on one fresh file both get here; the write
            # lock taken by BEGIN IMMEDIATE lets only one in at a time, so the
            # second must look again or it would create and seed a second time.
            if self.fetch_value("PRAGMA user_version") == _INITIALISED_VERSION:
                return
            # Schema, seed and version stamp commit together: a crash half-way
            # leaves a file that is initialised again from scratch next time.
            for statement in _split_statements(schema):
                self._connection.execute(statement)
            if seed_data is not None:
                seed_data(self._connection)
            self._connection.execute(f"PRAGMA user_version={_INITIALISED_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block as one write transaction: committed on success, rolled back on any exception."""
        # IMMEDIATE takes the write lock up front, so a check-then-write inside
        # the block cannot be invalidated by another writer to the same file.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield
            # Inside the try: a COMMIT can fail too (a deferred constraint, a
            # full disk) and then SQLite leaves the transaction open; without
            # the rollback every later BEGIN on this connection would fail.
            self._connection.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        # Some errors (SQLITE_FULL, IOERR, BUSY in places) already rolled the
        # transaction back; a second ROLLBACK would raise and hide the cause.
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Nested scope inside :meth:`transaction`; on an exception only the block's writes are undone."""
        self._connection.execute("SAVEPOINT nested")
        try:
            yield
        except BaseException:
            self._connection.execute("ROLLBACK TO nested")
            self._connection.execute("RELEASE nested")
            raise
        self._connection.execute("RELEASE nested")

    def execute(self, sql: str, params: SqlParams = ()) -> sqlite3.Cursor:
        """Run one statement (inside a transaction when it writes)."""
        return self._connection.execute(sql, params)

    def insert(self, table: str, row: Mapping[str, Any]) -> None:
        """Insert one row given as ``{column: value}``; ``table`` and columns come from code, not requests."""
        columns = ", ".join(row)
        placeholders = ", ".join("?" for _ in row)
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
        self._connection.execute(sql, tuple(row.values()))

    def fetch_all(self, sql: str, params: SqlParams = ()) -> list[sqlite3.Row]:
        """All rows of a query."""
        return self._connection.execute(sql, params).fetchall()

    def fetch_one(self, sql: str, params: SqlParams = ()) -> sqlite3.Row | None:
        """The first row of a query, or ``None``."""
        row: sqlite3.Row | None = self._connection.execute(sql, params).fetchone()
        return row

    def fetch_value(self, sql: str, params: SqlParams = ()) -> Any:
        """The first column of the first row, or ``None``."""
        row = self._connection.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close the connection; the object is unusable afterwards."""
        self._connection.close()


def _split_statements(script: str) -> list[str]:
    # executescript() commits any open transaction first; running statements
    # one by one keeps the schema inside the initialisation transaction. Our
    # DDL has no triggers or string literals, so ';' always ends a statement.
    return [statement.strip() for statement in script.split(";") if statement.strip()]
