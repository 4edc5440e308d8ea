"""Storage of answered ``Idempotency-Key`` requests, Stripe style.

A key is bound to the first request that used it — method, path and a hash
of the body — and to the answer that request got. The record is written in
the same SQLite transaction as the effect, so "effect happened" and "answer
remembered" can never disagree, not even across a crash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from services.common.database import Database
from services.common.identifiers import utc_now

IDEMPOTENCY_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key            TEXT PRIMARY KEY,
    method         TEXT NOT NULL,
    path           TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    status_code    INTEGER NOT NULL,
    response_json  TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
"""
"""DDL every service database includes."""


@dataclass(frozen=True)
class RequestIdentity:
    """What a key is bound to: the same key may only ever replay this exact request."""

    method: str
    path: str
    request_hash: str


@dataclass(frozen=True)
class StoredAnswer:
    """A remembered answer and the request it answered."""

    request: RequestIdentity
    status_code: int
    body: Any


def request_hash(payload: Any) -> str:
    """SHA-256 of the canonical JSON of a request payload (key order and spacing do not matter)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class IdempotencyStore:
    """Reads and writes the ``idempotency_keys`` table; callers own the transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def find(self, key: str) -> StoredAnswer | None:
        """The answer stored under ``key``, if any."""
        row = self._database.fetch_one(
            "SELECT method, path, request_hash, status_code, response_json FROM idempotency_keys WHERE key = ?",
            (key,),
        )
        if row is None:
            return None
        return StoredAnswer(
            request=RequestIdentity(row["method"], row["path"], row["request_hash"]),
            status_code=row["status_code"],
            body=json.loads(row["response_json"]),
        )

    def save(self, key: str, request: RequestIdentity, status_code: int, body: Any, *, replace: bool = False) -> None:
        """Remember the answer to ``request`` under ``key`` (``replace``: over an earlier one, which only a service
        switched to a broken key handling ever does)."""
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        self._database.execute(
            f"{verb} INTO idempotency_keys (key, method, path, request_hash, status_code, response_json, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, request.method, request.path, request.request_hash, status_code, json.dumps(body), utc_now()),
        )
