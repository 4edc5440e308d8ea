"""Client-side encryption of everything Cadenza hands to Temporal: workflow inputs and results, activity arguments and
results, queries, signals, memos, failure messages and stack traces. Temporal stores only ciphertext; whoever holds
the keys (a worker, the CLI, the Order API, the replayer, a codec server) reads the data.

Keys come in a `KeyRing`: key id → 32-byte AES-256 key, one of them active (new payloads are encrypted with it), all of
them usable to decrypt. Each encrypted payload names its key id in its metadata, so a rotation is: put a new key first
(it becomes active), keep the old ones for as long as histories written under them may be read (retention, plus any
order still open).

Key lines look like `<key id>=<32 bytes, base64>` (`cadenza keys generate` prints one). Where they come from, first
found wins:

- `CADENZA_ENCRYPTION_KEYS`: key lines separated by commas, the first one active, e.g. `k2=…,k1=…`;
- `CADENZA_ENCRYPTION_KEYS_FILE`: a file with one key line per line, the first one active; `#` comments;
- `<state dir>/encryption-keys`: the development key the embedded stack (`cadenza up`) creates on its first start,
  so the CLI in another terminal reads what that stack's worker wrote.

With none of them, nothing is encrypted (see `cadenza.connection.data_converter` for the policy).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    PayloadConverter,
)

from cadenza.settings import state_dir

ENCRYPTION_ENV = "CADENZA_ENCRYPTION"
"""`required`: a process without keys refuses to start (cadenza.connection.data_converter)."""
KEYS_ENV = "CADENZA_ENCRYPTION_KEYS"
KEYS_FILE_ENV = "CADENZA_ENCRYPTION_KEYS_FILE"
STATE_KEYS_FILE = "encryption-keys"
"""Name of the embedded stack's key file inside its state folder."""

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the AES-GCM standard nonce; random per payload (2^32 payloads per key stay far below collision risk)

_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class EncryptionError(RuntimeError):
    """A payload could not be encrypted or decrypted; the message says what to do."""


class KeyRingError(EncryptionError):
    """Key configuration that cannot be used (malformed line, wrong key length, duplicate id)."""


class UnknownEncryptionKey(EncryptionError):
    """A payload names a key id this process does not hold."""

    def __init__(self, key_id: str, held: Sequence[str]) -> None:
        self.key_id = key_id
        holding = f"holds only {', '.join(held)}" if held else f"holds no keys at all ({KEYS_ENV} is not set)"
        super().__init__(
            f"Payload encrypted with key id {key_id!r}, but this process's key ring {holding}. Add the key line "
            f"'{key_id}=…' to {KEYS_ENV} (or {KEYS_FILE_ENV}) of this process, after the active key: old keys must "
            "stay for as long as histories written under them are read."
        )


class PayloadTampered(EncryptionError):
    """A payload's ciphertext, nonce or key id was altered (or the key under its id is not the one it was sealed with)."""


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Key id → 32-byte key; `active_id` encrypts, every key decrypts."""

    active_id: str
    keys: Mapping[str, bytes]
    source: str = "code"
    """Where the keys came from, for messages (an env variable or a file; never the keys)."""

    def __post_init__(self) -> None:
        if self.active_id not in self.keys:
            raise KeyRingError(f"active key id {self.active_id!r} is not among the keys ({', '.join(self.keys)})")
        for key_id, key in self.keys.items():
            _check_key_id(key_id, self.source)
            if len(key) != KEY_BYTES:
                raise KeyRingError(
                    f"{self.source}: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}. "
                    "Make one with `cadenza keys generate`."
                )

    # ---- building one -------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, source: str) -> KeyRing | None:
        """Key lines separated by commas or new lines, first one active; `#` starts a comment. None if there are none."""
        entries: dict[str, bytes] = {}
        for raw in re.split(r"[,\n]", "\n".join(line.split("#", 1)[0] for line in text.splitlines())):
            line = raw.strip()
            if not line:
                continue
            key_id, sep, encoded = line.partition("=")
            key_id = key_id.strip()
            if not sep:
                raise KeyRingError(f"{source}: {key_id[:16]!r}… is not a key line; expected '<key id>=<base64 key>'")
            _check_key_id(key_id, source)
            if key_id in entries:
                raise KeyRingError(f"{source}: key id {key_id!r} appears twice; each id must name one key")
            try:
                entries[key_id] = base64.b64decode(encoded.strip(), validate=True)
            except binascii.Error:
                raise KeyRingError(f"{source}: key {key_id!r} is not valid base64") from None
        if not entries:
            return None
        return cls(active_id=next(iter(entries)), keys=entries, source=source)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing | None:
        try:
            text = path.read_text()
        except OSError as err:
            raise KeyRingError(f"cannot read the key file {path}: {err.strerror}; check {KEYS_FILE_ENV}") from None
        return cls.parse(text, source=str(path))

    @classmethod
    def configured(cls, environ: Mapping[str, str] | None = None) -> KeyRing | None:
        """The keys named by `CADENZA_ENCRYPTION_KEYS` or `CADENZA_ENCRYPTION_KEYS_FILE`, or None if neither is set."""
        env = os.environ if environ is None else environ
        if env.get(KEYS_ENV, "").strip():
            return cls.parse(env[KEYS_ENV], source=KEYS_ENV)
        if env.get(KEYS_FILE_ENV, "").strip():
            return cls.from_file(Path(env[KEYS_FILE_ENV]))
        return None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> KeyRing | None:
        """The key ring of this process: the configured keys, else the embedded stack's development key in the state
        folder (if that stack has run here), else None."""
        configured = cls.configured(environ)
        if configured is not None:
            return configured
        stack_keys = state_dir() / STATE_KEYS_FILE
        return cls.from_file(stack_keys) if stack_keys.exists() else None

    @staticmethod
    def generate_line(key_id: str | None = None) -> str:
        """A new key line `<key id>=<base64 of 32 random bytes>`; the id defaults to `k<UTC timestamp>`."""
        key_id = key_id or datetime.now(UTC).strftime("k%Y%m%d%H%M%S")
        _check_key_id(key_id, "key id")
        return f"{key_id}={base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"

    @property
    def ids(self) -> list[str]:
        return list(self.keys)


def _check_key_id(key_id: str, source: str) -> None:
    # The id travels in clear in every payload's metadata: letters, digits and ._- only, never anything secret.
    if not _KEY_ID.fullmatch(key_id):
        raise KeyRingError(f"{source}: key id {key_id!r} must be 1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit")


def keys_configured(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name, "").strip() for name in (KEYS_ENV, KEYS_FILE_ENV))


def ensure_key_file(path: Path) -> KeyRing:
    """The key ring in `path`, creating it with one new key first if there is none (the embedded stack's dev key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: the key is never readable by others, not even for a moment.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(
                "# Development encryption key of this embedded stack (cadenza up); the first line is active.\n"
                "# Keep this file: without it, the history in this folder cannot be read.\n"
                f"{KeyRing.generate_line('dev-' + secrets.token_hex(4))}\n"
            )
    ring = KeyRing.from_file(path)
    if ring is None:
        raise KeyRingError(f"{path} holds no key lines; delete it to have a new development key made")
    return ring


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialised payload (its metadata too, so the encoding of the data is hidden as
    well). The key id is bound to the ciphertext as associated data: changing it in the metadata fails decryption.

    Payloads without the `binary/encrypted` encoding (histories from before encryption) pass through decode unchanged.
    With no ring, nothing is encrypted, and decoding an encrypted payload fails naming its key id.
    """

    def __init__(self, ring: KeyRing | None) -> None:
        self.ring = ring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()} if ring else {}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.ring is None:
            return list(payloads)
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        assert self.ring is not None
        key_id = self.ring.active_id
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownEncryptionKey(key_id, self.ring.ids if self.ring else [])
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadTampered(
                f"Payload under key id {key_id!r} fails authentication: it was altered after encryption, or the key "
                f"named {key_id!r} in this process is not the one it was encrypted with. Compare the key line with "
                "the one the writing worker holds."
            ) from None
        return Payload.FromString(plain)


class EncodedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces moved into an encoded (so encrypted) payload, except for Cadenza's own
    encryption errors: they name key ids, never data, and must stay readable to whoever lacks the key they name — the
    operator looking at a workflow task that fails because a worker misses a key."""

    _plain = DefaultFailureConverter()

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        if isinstance(exception, EncryptionError):
            self._plain.to_failure(exception, payload_converter, failure)
        else:
            super().to_failure(exception, payload_converter, failure)


def data_converter(ring: KeyRing | None) -> DataConverter:
    """The pydantic converter with the encryption codec and, when encrypting, failure messages and stack traces moved
    into an encoded (so encrypted) payload too: a reason can quote customer data. Without a ring the codec is still
    there, so that an encrypted payload fails naming its key id instead of as an unknown encoding; failures then stay
    plain text, which is all encoding them would give. `failure_converter=` cannot be passed: it is derived from the
    class (init=False). Reading failures works either way: both classes decode encoded attributes when present."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring),
        failure_converter_class=EncodedFailureConverter if ring else DefaultFailureConverter,
    )
