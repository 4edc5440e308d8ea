"""Fencing a request by its ``Idempotency-Key``: the compensation's half of exactly-once.

A compensation that only looks up what to undo (by order id, say) can run *before* the request it compensates: the
request is still on a slow network path, the compensation finds nothing, and the late request then commits. This is
the saga literature's "version file" countermeasure, and what Stripe does for a cancelled PaymentIntent: the
compensation leaves a record that it ran, so the late request is refused.

``POST /fences {"key": K}`` does, in one transaction under the service's mutation lock:

* the request with key K committed → undo its effect (service-specific: refund, cancel, release) if it created a
  record; one that changed a record (a confirmation, a commit) is undone with that record, by the fence of its
  creation's key;
* it never arrived, or it failed → nothing to undo;

and in both cases records the fence, so every later request with key K — a late delivery, a retry, a reset
workflow re-running its step — answers ``409 request_fenced`` instead of acting or replaying a stale success. Fencing
again answers the first fence's outcome, so a compensation retried after a lost reply still learns what it undid.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.idempotency import StoredAnswer
from services.common.identifiers import utc_now

FENCE_SCHEMA = """
CREATE TABLE IF NOT EXISTS fences (
    key           TEXT PRIMARY KEY,
    outcome_json  TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
"""
"""DDL every service database includes; idempotent, so databases created before fences gain the table at start."""


class FenceRequest(BaseModel):
    """Body of ``POST /fences``."""

    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=255, description="The idempotency key of the request to fence")


class FenceOutcome(BaseModel):
    """What a fence did; the same answer for every repeat of it."""

    key: str
    request_found: bool = Field(description="Whether a request with this key had arrived before the fence")
    undone: bool = Field(description="Whether the fence undid an effect of that request")
    detail: str = Field(description="What was undone, or why there was nothing to undo")
    resource_id: str | None = Field(default=None, description="The record the fenced request had created, if any")
    created_at: str


class Undo(BaseModel):
    """A service's undo of one committed request: what it touched and whether anything changed."""

    resource_id: str | None
    undone: bool
    detail: str


Undoer = Callable[[StoredAnswer], Undo]
"""Undoes the effect of a committed (2xx) request, given its stored answer. Only creations are undone: a request that
changed an existing record answers `nothing_to_void` (its key is fenced all the same)."""


def fenced_error(key: str, outcome: FenceOutcome, key_header: str = "Idempotency-Key") -> ServiceError:
    """The answer to any request that arrives with a fenced key (in ``key_header``)."""
    return ServiceError(
        409,
        "request_fenced",
        f"{key_header} {key!r} was fenced at {outcome.created_at} ({outcome.detail}); this request is refused "
        "and changed nothing. Its order was compensated: place a new order to try again",
        fenced_at=outcome.created_at,
    )


class FenceStore:
    """Reads and writes the ``fences`` table; callers own the transaction."""

    def __init__(self, database: Database) -> None:
        self._database = database
        database.execute(FENCE_SCHEMA.strip())

    def find(self, key: str) -> FenceOutcome | None:
        raw = self._database.fetch_value("SELECT outcome_json FROM fences WHERE key = ?", (key,))
        return None if raw is None else FenceOutcome.model_validate_json(raw)

    def fence(self, key: str, stored: StoredAnswer | None, undo: Undoer) -> FenceOutcome:
        """Undo what the request with ``key`` did (if it committed) and fence the key against later requests."""
        outcome = FenceOutcome(key=key, **_what_to_record(stored, undo), created_at=utc_now())
        self._database.execute(
            "INSERT INTO fences (key, outcome_json, created_at) VALUES (?, ?, ?)",
            (key, outcome.model_dump_json(), outcome.created_at),
        )
        return outcome


def _what_to_record(stored: StoredAnswer | None, undo: Undoer) -> dict[str, Any]:
    if stored is None:
        return {"request_found": False, "undone": False, "detail": "no request with this key had arrived; fenced"}
    if not 200 <= stored.status_code < 300:
        code = _error_code(stored.body)
        return {
            "request_found": True,
            "undone": False,
            "detail": f"the request had failed ({stored.status_code} {code}): nothing to undo",
        }
    done = undo(stored)
    return {"request_found": True, "undone": done.undone, "detail": done.detail, "resource_id": done.resource_id}


def _error_code(body: Any) -> str:
    try:
        return str(body["error"]["code"])
    except (KeyError, TypeError):
        return "error"


def nothing_to_void(stored: StoredAnswer) -> Undo:
    """For undoers: the fenced key belongs to a request that changed a record rather than created one (a confirmation,
    a commit). Nothing is undone — the fence of the creation's key undoes the record — but the key is fenced like any
    other, so the request's stored success is never replayed to a workflow reset to before its compensation."""
    request = f"{stored.request.method} {stored.request.path}"
    return Undo(
        resource_id=None,
        undone=False,
        detail=f"{request} changed a record that the fence of its creation undoes: nothing to undo here; fenced",
    )
