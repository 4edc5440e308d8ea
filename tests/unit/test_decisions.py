"""Signing and checking decisions (cadenza.decisions) and where their keys come from (cadenza.decision_keys), without a
server: every way a proof can be wrong is refused with a reason, and no key ever shows up in a message or a repr."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cadenza.codec import KeyRing, KeyRingError, ensure_key_file
from cadenza.decision_keys import DECISION_KEYS, DecisionKeysMissing, decision_keys
from cadenza.decisions import MAX_AGE, DecisionRefused, check, sign, subject_of
from cadenza.stack import StackConfig
from starters.compose_secrets import create_compose_secrets
from workflows.models import OperatorRetry, ReviewDecision, ReviewVerdict

KEY = bytes(range(32))
RING = KeyRing(active_id="d1", keys={"d1": KEY})
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
DECISION = ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="cli:alice", reason="known customer")
SUBJECT = subject_of("review", "order-a", DECISION)


def _refusal(subject=SUBJECT, proof=None, *, ring=RING, now=NOW, used=()) -> str:
    with pytest.raises(DecisionRefused) as refused:
        check(ring, subject, proof, now=now, used=used)
    return str(refused.value)


def test_a_proof_vouches_for_its_decision_only_once_signed_and_for_a_while():
    proof = sign(RING, SUBJECT, at=NOW)
    check(RING, SUBJECT, proof, now=NOW + MAX_AGE, used=())
    assert "carries no proof" in _refusal(proof=None)
    assert "used before" in _refusal(proof=proof, used={proof.signature})
    assert "not within" in _refusal(proof=proof, now=NOW + MAX_AGE + timedelta(seconds=1))
    assert "not within" in _refusal(proof=sign(RING, SUBJECT, at=NOW + timedelta(hours=1)))


@pytest.mark.parametrize(
    "subject",
    [
        subject_of("review", "order-b", DECISION),
        subject_of("retry_compensation", "order-a", DECISION),
        subject_of("review", "order-a", DECISION.model_copy(update={"decision": ReviewVerdict.REJECT})),
        subject_of("review", "order-a", DECISION.model_copy(update={"reviewer": "mallory"})),
        subject_of("review", "order-a", DECISION.model_copy(update={"reason": None})),
    ],
    ids=["other order", "other update", "other verdict", "other reviewer", "reason dropped"],
)
def test_a_proof_for_anything_else_does_not_match(subject):
    assert "signature does not match" in _refusal(subject, sign(RING, SUBJECT, at=NOW))


def test_keys_rotate_by_id_and_an_unknown_id_is_named():
    old = sign(RING, SUBJECT, at=NOW)
    rotated = KeyRing(active_id="d2", keys={"d2": bytes(32), "d1": KEY})
    check(rotated, SUBJECT, old, now=NOW, used=())  # the old key still verifies while the workers hold it
    assert sign(rotated, SUBJECT, at=NOW).key_id == "d2"  # the first line signs
    retired = KeyRing(active_id="d2", keys={"d2": bytes(32)})
    assert "key 'd1', which this worker does not hold (it holds d2)" in _refusal(proof=old, ring=retired)


def test_the_proof_leaves_out_unset_fields_so_an_older_door_still_matches():
    # A field added to a decision later (optional, None by default) does not change what was signed without it.
    retry = OperatorRetry(operator="cli:bob")
    assert subject_of("retry_compensation", "order-a", retry)["fields"] == {"operator": "cli:bob"}
    assert subject_of("retry_compensation", "order-a", None)["fields"] == {}


def test_without_decision_keys_a_process_refuses_naming_the_variable(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path))  # no embedded stack has run here
    with pytest.raises(DecisionKeysMissing, match=r"set CADENZA_DECISION_KEYS .* or CADENZA_DECISION_KEYS_FILE"):
        decision_keys({})


def test_the_embedded_stacks_key_is_made_once_private_and_found_by_the_cli(monkeypatch, tmp_path: Path):
    made = ensure_key_file(tmp_path / DECISION_KEYS.state_file, DECISION_KEYS)
    assert (tmp_path / "decision-keys").stat().st_mode & 0o777 == 0o600
    assert "can approve this stack's orders" in (tmp_path / "decision-keys").read_text()
    monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path))
    assert decision_keys({}) == made == ensure_key_file(tmp_path / "decision-keys", DECISION_KEYS)


@pytest.mark.parametrize(
    "line",
    [
        base64.b64encode(KEY).decode(),  # the key pasted without its id: its "=" padding reads as the separator
        f"{base64.b64encode(KEY).decode()},{base64.b64encode(KEY).decode()}",  # ... twice
        f"d1={base64.b64encode(KEY[:20]).decode()}",  # too short
        f"d 1={base64.b64encode(KEY).decode()}",  # a bad id
        f"{base64.b64encode(KEY).decode()}=d1",  # key and id swapped
    ],
    ids=["no id", "no id twice", "short", "bad id", "swapped"],
)
def test_no_key_shows_in_an_error(line: str):
    with pytest.raises(KeyRingError) as refused:
        decision_keys({"CADENZA_DECISION_KEYS": line})
    message = str(refused.value)
    assert "CADENZA_DECISION_KEYS, key line 1" in message
    assert base64.b64encode(KEY).decode()[:8] not in message and base64.b64encode(KEY[:20]).decode()[:8] not in message


def test_no_key_shows_in_a_repr():
    assert "keys=" not in repr(RING) and repr(KEY) not in repr(RING)


def test_the_embedded_stack_hands_its_children_the_key_a_cli_beside_it_finds(monkeypatch, tmp_path: Path):
    # Without decision keys in the shell: the stack's worker and API sign and check with its own development key, and
    # `cadenza order review` in another terminal (same state folder) signs with the same one.
    for variable in ("CADENZA_DECISION_KEYS", "CADENZA_DECISION_KEYS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CADENZA_STATE_DIR", str(tmp_path))
    config = StackConfig.from_settings()
    made = config.decision_keys()
    children = config.client_env()
    assert children["CADENZA_DECISION_KEYS_FILE"] == str(tmp_path / "decision-keys")
    assert decision_keys(children) == made == decision_keys({})


def test_compose_gets_a_decision_key_of_its_own_never_a_committed_one(tmp_path: Path):
    out = tmp_path / "generated"
    create_compose_secrets(out)
    ring = decision_keys({"CADENZA_DECISION_KEYS_FILE": str(out / "decision-keys")})
    assert ring.ids == ["compose-decisions"]
    assert not list(Path(__file__).parents[2].glob("deploy/secrets/decision-keys*"))
