"""The encryption check: this process's keys load, and a payload goes through the codec and back."""

from __future__ import annotations

from cadenza import codec
from cadenza.codec import ENCRYPTION_ENV, KEYS_ENV, KEYS_FILE_ENV, EncryptionError
from cadenza.connection import data_converter, encryption_setting, key_ring
from starters.doctor.model import Check, Context, Outcome, failed, passed, warned

SAMPLE = {"doctor": "a test payload, never sent to Temporal"}

_GIVE_KEYS = f"Set {KEYS_ENV} (a line of `cadenza keys generate`) or {KEYS_FILE_ENV} to the keys the workers use"


async def encryption(ctx: Context) -> Outcome:
    try:
        setting = encryption_setting()
        ring = key_ring()
    except EncryptionError as err:  # a malformed key line, an unreadable key file, a bad CADENZA_ENCRYPTION
        return failed(str(err), _GIVE_KEYS)
    required = setting == "required"
    if setting == "off":
        return warned(
            f"{ENCRYPTION_ENV}=off: this process neither encrypts nor decrypts (a benchmark setting)",
            f"Unset {ENCRYPTION_ENV}, or set it to required",
        )
    if ring is None:
        if required:
            return failed(f"{ENCRYPTION_ENV}=required but no keys are configured", _GIVE_KEYS)
        return warned(
            "no keys: orders (names, addresses, e-mails) reach Temporal in plain text",
            f"{_GIVE_KEYS}, and {ENCRYPTION_ENV}=required so that no process runs without them",
        )
    converter = data_converter()
    [encoded] = await converter.encode([SAMPLE])
    [decoded] = await converter.decode([encoded], [dict])
    if encoded.metadata.get("encoding") != codec.ENCODING or decoded != SAMPLE:
        return failed("a payload did not come back from the codec as it went in", _GIVE_KEYS)
    ctx.sample = encoded
    detail = f"key {ring.active_id} encrypts (decrypts: {', '.join(ring.ids)}; from {ring.source}); round trip ok"
    if not required:
        return warned(
            detail,
            f"Set {ENCRYPTION_ENV}=required in production: a process without keys then refuses "
            "to start instead of writing plain text",
        )
    return passed(detail)


CHECKS = [Check("encryption keys", encryption)]
