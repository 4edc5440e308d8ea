"""Proof that a decision on an order — a reviewer's verdict, an operator's go-ahead to retry compensations — was relayed
by one of Cadenza's own doors (the Order API, the CLI), not typed into the `temporal` CLI by whoever reaches the server.

The door signs the decision with a decision key: an HMAC-SHA256 over the update's name, the execution's workflow id,
the decision's fields, when it was signed and a random nonce. A worker checks the proof before the workflow sees the
decision (workers/decision_check.py), so a proof is good for one decision, on one order, for a few minutes, once.
Encryption alone would not do: whoever may call the codec server's `/encode` can produce encrypted payloads.

Where the keys come from: cadenza.decision_keys. This module only signs and checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio.exceptions import ApplicationError

from cadenza.codec import ReadableFailure
from cadenza.failure_types import DECISION_REFUSED

if TYPE_CHECKING:
    from cadenza.codec import KeyRing

MAX_AGE = timedelta(minutes=10)
"""A proof older than this when the worker checks it is refused: long enough for a worker restart or a slow network
between signing and the check, short enough that a proof copied from a history is stale before it can be reused."""
MAX_AHEAD = timedelta(minutes=2)
"""Tolerated clock skew between the signer and the Temporal server (whose clock the check reads)."""

_VERSION = 1  # what the signature covers; bumped if that ever changes, so an old proof cannot mean something new


class DecisionProof(BaseModel):
    """Who relayed a decision can be trusted: the signature of a door that holds a decision key. Carried in the
    decision (an update's input), so it is kept, encrypted, in the order's history with it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    key_id: str = Field(max_length=64, description="Which decision key signed (rotation: workers hold several).")
    issued_at: str = Field(max_length=40, description="When the door signed, ISO-8601 UTC.")
    nonce: str = Field(max_length=64, description="Random: two identical decisions never share a signature.")
    signature: str = Field(max_length=128, description="HMAC-SHA256, hex.")


class DecisionRefused(ReadableFailure, ApplicationError):
    """A decision whose proof is missing, wrong, stale or used before; the message says which and what to do.
    Readable without keys (`ReadableFailure`): it names rules and key ids, never data."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"{reason}. Nothing was decided. Decisions are accepted only as `cadenza order review` / "
            "`cadenza order retry-compensation` or the Order API send them (they sign them).",
            type=DECISION_REFUSED,
            non_retryable=True,
        )


def subject_of(update: str, workflow_id: str, decision: BaseModel | None) -> dict[str, Any]:
    """What a proof vouches for: this update, on this execution, with exactly these fields. Fields left unset are left
    out, so that a field added later (optional, default None) does not change what an older door signed."""
    fields = {} if decision is None else decision.model_dump(mode="json", exclude={"proof"}, exclude_none=True)
    return {"update": update, "workflow_id": workflow_id, "fields": fields}


def sign(ring: KeyRing, subject: Mapping[str, Any], *, at: datetime) -> DecisionProof:
    """A proof for `subject`, signed now (`at`) with the ring's active key."""
    key_id, issued_at, nonce = ring.active_id, at.astimezone(UTC).isoformat(), secrets.token_hex(16)
    signature = _mac(ring.keys[key_id], subject, key_id=key_id, issued_at=issued_at, nonce=nonce)
    return DecisionProof(key_id=key_id, issued_at=issued_at, nonce=nonce, signature=signature)


def check(
    ring: KeyRing, subject: Mapping[str, Any], proof: DecisionProof | None, *, now: datetime, used: Collection[str]
) -> None:
    """Raise `DecisionRefused` unless `proof` vouches for `subject`, was signed within `MAX_AGE` of `now` with a key
    of `ring`, and is not among the signatures `used` before on this execution."""
    what = f"{subject['update']} of {subject['workflow_id']}"
    if proof is None:
        raise DecisionRefused(f"Refused {what}: it carries no proof that Cadenza's Order API or CLI relayed it")
    key = ring.keys.get(proof.key_id)
    if key is None:
        raise DecisionRefused(
            f"Refused {what}: it is signed with decision key {proof.key_id!r}, which this worker does not hold (it "
            f"holds {', '.join(ring.ids)}). If that is a new key, add its line to the workers' decision keys first"
        )
    expected = _mac(key, subject, key_id=proof.key_id, issued_at=proof.issued_at, nonce=proof.nonce)
    if not hmac.compare_digest(expected, proof.signature):
        raise DecisionRefused(
            f"Refused {what}: its signature does not match — the decision was altered, signed for another order or "
            f"update, or signed with another key under the id {proof.key_id!r}"
        )
    issued = _instant(proof.issued_at)
    if issued is None or not now - MAX_AGE <= issued <= now + MAX_AHEAD:
        raise DecisionRefused(
            f"Refused {what}: signed at {proof.issued_at}, not within {MAX_AGE} before the worker saw it at "
            f"{now.astimezone(UTC).isoformat()} (a copied proof, or a clock off): send the decision again"
        )
    if proof.signature in used:
        raise DecisionRefused(f"Refused {what}: this proof was used before; every decision is signed afresh")


def _mac(key: bytes, subject: Mapping[str, Any], *, key_id: str, issued_at: str, nonce: str) -> str:
    # Canonical JSON: the same bytes at the signer and the worker whatever the order of the fields.
    signed = {"v": _VERSION, "subject": subject, "key_id": key_id, "issued_at": issued_at, "nonce": nonce}
    message = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
