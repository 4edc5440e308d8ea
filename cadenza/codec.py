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

Each payload is also bound to the Temporal namespace it was written in: the namespace travels in its metadata and is
sealed into the ciphertext as associated data, and a codec decrypts only payloads of its own namespace. So a payload
copied into another namespace, or shown to a codec-server caller who names another namespace, stays ciphertext.
Payloads written before that binding (key id only) keep decrypting until `CADENZA_ENCRYPTION_UNBOUND=refuse`
(docs/encryption.md, "Namespaces").

Other keys in the same line format (the decision keys, cadenza.decision_keys) are read the same way, from their own
`KeySetting`: a variable with the lines, a variable naming a file, a file in the state folder.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import os
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

from cadenza.errors import CadenzaError
from cadenza.key_lines import (
    KEY_BYTES,
    KEY_ID,
    KEY_ID_RULE,
    KeyLineError,
    parse_key_lines,
    read_key_file,
    shown_path,
)
from cadenza.settings import Settings, load_settings, settings, state_dir

ENCRYPTION_ENV = "CADENZA_ENCRYPTION"
"""`required`: a process without keys refuses to start (cadenza.connection.data_converter)."""
KEYS_ENV = "CADENZA_ENCRYPTION_KEYS"
KEYS_FILE_ENV = "CADENZA_ENCRYPTION_KEYS_FILE"
UNBOUND_ENV = "CADENZA_ENCRYPTION_UNBOUND"
"""`refuse`: payloads written before namespaces were bound no longer decrypt (`accept`, the default: they do)."""
STATE_KEYS_FILE = "encryption-keys"
"""Name of the embedded stack's key file inside its state folder."""

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NAMESPACE_METADATA = "encryption-namespace"
NONCE_BYTES = 12  # the AES-GCM standard nonce; random per payload (2^32 payloads per key stay far below collision risk)

PLAINTEXT_MARK = "cadenza-arrived-plaintext"
"""Metadata Cadenza's converter adds to a payload that arrived unencrypted when it decodes it, so that a worker can
tell what came in as plain text (workers/intake.py). Added on decode, never sent: a sender can neither add nor remove
it."""


@dataclasses.dataclass(frozen=True)
class KeySetting:
    """Where one kind of key lines comes from, first found wins: a variable holding the lines, a variable naming a
    file of them, the file the embedded stack creates in its state folder."""

    keys_env: str
    file_env: str
    state_file: str
    purpose: str
    """What the keys are for, in the development key file's header."""
    keep_note: str
    """Why that file matters, in its header."""


ENCRYPTION_KEYS = KeySetting(
    KEYS_ENV,
    KEYS_FILE_ENV,
    STATE_KEYS_FILE,
    "encryption",
    "Keep this file: without it, the history in this folder cannot be read.",
)


def missing_keys(setting: KeySetting = ENCRYPTION_KEYS) -> str:
    """Where a process without `setting`'s keys looked for them, and where the embedded stack keeps its own: a shell
    in another folder than `cadenza up`'s finds none (the state folder is `./.cadenza`)."""
    looked = state_dir() / setting.state_file
    return (
        f"neither {setting.keys_env} nor {setting.file_env} is set, and there is no {looked}; `cadenza up` keeps its "
        "development keys in its state folder (CADENZA_STATE_DIR, by default .cadenza in the folder it runs in): run "
        f"this there, or set {setting.file_env}=<that state folder>/{setting.state_file}"
    )


class EncryptionError(CadenzaError, RuntimeError):
    """A payload could not be encrypted or decrypted; the message says what to do."""


class KeyRingError(EncryptionError):
    """Key configuration that cannot be used (malformed line, wrong key length, duplicate id)."""


UNKNOWN_KEY = "Payload encrypted with key id"
"""How `UnknownEncryptionKey`'s message begins: a replay reports the worker's failure as text only."""


class UnknownEncryptionKey(EncryptionError):
    """A payload names a key id this process does not hold."""

    def __init__(self, key_id: str, held: Sequence[str]) -> None:
        self.key_id = key_id
        holding = f"holds only {', '.join(held)}" if held else f"holds no keys at all ({missing_keys()})"
        super().__init__(
            f"{UNKNOWN_KEY} {key_id!r}, but this process's key ring {holding}. Add the key line "
            f"'{key_id}=…' to {KEYS_ENV} (or {KEYS_FILE_ENV}) of this process, after the active key: old keys must "
            "stay for as long as histories written under them are read."
        )


class PayloadTampered(EncryptionError):
    """A payload's ciphertext, nonce, key id or namespace was altered (or the key under its id is not the one it was
    sealed with)."""


class NamespaceMismatch(EncryptionError):
    """A payload bound to one namespace was presented for another; nothing of it was decrypted."""

    def __init__(self, bound: str, asked: str) -> None:
        self.bound, self.asked = bound, asked
        super().__init__(
            f"Payload written in namespace {bound!r} was presented for namespace {asked!r}; it is decrypted only for "
            f"the namespace it was written in. Read it as a client of {bound!r} (TEMPORAL_NAMESPACE), "
            "or from the codec "
            f"server with X-Namespace: {bound} and a grant {bound}:read."
        )


class UnboundPayloadRefused(EncryptionError):
    """A payload written before namespaces were bound, while this process refuses those
    (`CADENZA_ENCRYPTION_UNBOUND`)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(
            f"Payload under key id {key_id!r} was written before payloads were bound to their namespace, and "
            f"{UNBOUND_ENV}=refuse: such payloads are retired here. Set {UNBOUND_ENV}=accept while histories written "
            'before the upgrade are still read (docs/encryption.md, "Namespaces").'
        )


@dataclasses.dataclass(frozen=True)
class KeyRing:
    """Key id → 32-byte key; `active_id` encrypts, every key decrypts."""

    active_id: str
    keys: Mapping[str, bytes] = dataclasses.field(repr=False)
    source: str = "code"
    """Where the keys came from, for messages (an env variable or a file; never the keys)."""

    def __post_init__(self) -> None:
        # Positions, never ids: a ring built from text that was not validated could hold key material as an "id".
        for position, (key_id, key) in enumerate(self.keys.items(), start=1):
            if not KEY_ID.fullmatch(key_id):
                raise KeyRingError(f"{self.source}: the id of key {position} must be {KEY_ID_RULE}")
            if len(key) != KEY_BYTES:
                raise KeyRingError(
                    f"{self.source}: key {position} is {len(key)} bytes; AES-256 needs {KEY_BYTES}. "
                    "Make one with `cadenza keys generate`."
                )
        if self.active_id not in self.keys:
            raise KeyRingError(f"{self.source}: the active key id is not among the ring's keys")

    def __repr__(self) -> str:
        # The keys are left out of every repr, so that no log line, traceback or debugger print can carry them.
        return f"KeyRing(active_id={self.active_id!r}, ids={self.ids!r}, source={self.source!r})"

    # ---- building one -------------------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, source: str) -> KeyRing | None:
        """Key lines separated by commas or new lines, first one active; `#` starts a comment. None if there are none.
        A bad line is a `KeyRingError` naming its position, never its content (cadenza.key_lines)."""
        try:
            entries = parse_key_lines(text, source=source)
        except KeyLineError as err:
            raise KeyRingError(str(err)) from None
        if not entries:
            return None
        return cls(active_id=next(iter(entries)), keys=entries, source=source)

    @classmethod
    def from_file(cls, path: Path, setting: KeySetting = ENCRYPTION_KEYS) -> KeyRing | None:
        try:
            text = read_key_file(path, named_by=setting.file_env)
        except KeyLineError as err:
            raise KeyRingError(str(err)) from None
        return cls.parse(text, source=shown_path(path))

    @classmethod
    def configured(
        cls, environ: Mapping[str, str] | None = None, setting: KeySetting = ENCRYPTION_KEYS
    ) -> KeyRing | None:
        """The keys named by `setting`'s variables (`CADENZA_ENCRYPTION_KEYS` or `CADENZA_ENCRYPTION_KEYS_FILE` by
        default), or None if neither is set. A key file that holds no key line is an error: it was named on purpose,
        so it was meant to hold keys."""
        current = _settings(environ)
        if lines := current.get(setting.keys_env):
            return cls.parse(lines, source=setting.keys_env)
        if (path := current.get(setting.file_env)) is not None:
            ring = cls.from_file(path, setting)
            if ring is None:
                raise KeyRingError(
                    f"{setting.file_env} names {shown_path(path)}, which holds no key line: add the "
                    "keys (`cadenza keys generate` prints one), or unset the variable"
                )
            return ring
        return None

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, setting: KeySetting = ENCRYPTION_KEYS
    ) -> KeyRing | None:
        """The key ring of this process: the configured keys, else the embedded stack's development key in the state
        folder (if that stack has run here), else None."""
        configured = cls.configured(environ, setting)
        if configured is not None:
            return configured
        stack_keys = state_dir() / setting.state_file
        return cls.from_file(stack_keys, setting) if stack_keys.exists() else None

    @staticmethod
    def generate_line(key_id: str | None = None) -> str:
        """A new key line `<key id>=<base64 of 32 random bytes>`; the id defaults to `k<UTC timestamp>`."""
        key_id = key_id or datetime.now(UTC).strftime("k%Y%m%d%H%M%S")
        # The id travels in clear in every payload's metadata: letters, digits and ._- only, never anything secret.
        if not KEY_ID.fullmatch(key_id):
            raise KeyRingError(f"key id {key_id!r} must be {KEY_ID_RULE}")
        return f"{key_id}={base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"

    @property
    def ids(self) -> list[str]:
        return list(self.keys)


def keys_configured(environ: Mapping[str, str] | None = None, setting: KeySetting = ENCRYPTION_KEYS) -> bool:
    current = _settings(environ)
    return any(current.get(name) for name in (setting.keys_env, setting.file_env))


def _settings(environ: Mapping[str, str] | None) -> Settings:
    """This process's settings, or those of `environ` when a caller names one."""
    return settings() if environ is None else load_settings(environ)


def unbound_accepted(environ: Mapping[str, str] | None = None) -> bool:
    """`CADENZA_ENCRYPTION_UNBOUND`: whether payloads written before namespaces were bound still decrypt (`accept`,
    the default, so that histories from before the upgrade stay readable) or not (`refuse`: retired)."""
    return _settings(environ).encryption_unbound == "accept"


def ensure_key_file(path: Path, setting: KeySetting = ENCRYPTION_KEYS) -> KeyRing:
    """The key ring in `path`, creating it with one new key first if there is none (the embedded stack's dev key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 from the start: the key is never readable by others, not even for a moment.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(
                f"# Development {setting.purpose} key of this embedded stack (cadenza up); the first line is active.\n"
                f"# {setting.keep_note}\n"
                f"{KeyRing.generate_line('dev-' + secrets.token_hex(4))}\n"
            )
    ring = KeyRing.from_file(path, setting)
    if ring is None:
        raise KeyRingError(f"{path} holds no key lines; delete it to have a new development key made")
    return ring


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialised payload (its metadata too, so the encoding of the data is hidden as
    well), for the payloads of one Temporal namespace. The key id and the namespace are bound to the ciphertext as
    associated data: changing either in the metadata fails decryption, and a payload of another namespace is refused
    before any key touches it.

    Payloads without the `binary/encrypted` encoding (histories from before encryption) pass through decode unchanged,
    or, with `mark_plaintext`, with `PLAINTEXT_MARK` added: Cadenza's own converter marks them so that its workers can
    refuse new unencrypted requests while old histories keep replaying (workers/intake.py); the codec server does not.
    Encrypted ones without a namespace (from before the binding) decrypt while `accept_unbound`.
    With no ring, nothing is encrypted, and decoding an encrypted payload fails naming its key id.
    """

    def __init__(
        self, ring: KeyRing | None, *, namespace: str, accept_unbound: bool = True, mark_plaintext: bool = False
    ) -> None:
        self.ring = ring
        self.namespace = _checked_namespace(namespace)
        self.accept_unbound = accept_unbound
        self.mark_plaintext = mark_plaintext
        self._ciphers = {key_id: AESGCM(key) for key_id, key in ring.keys.items()} if ring else {}

    def __repr__(self) -> str:
        return f"EncryptionCodec({self.ring!r}, namespace={self.namespace!r}, accept_unbound={self.accept_unbound})"

    def for_namespace(self, namespace: str) -> EncryptionCodec:
        """The same keys, for the payloads of `namespace` (the codec server's view for one caller's X-Namespace)."""
        other = copy.copy(self)
        other.namespace = _checked_namespace(namespace)
        return other

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
        bound_to = associated_data(key_id, self.namespace)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), bound_to)
        metadata = {"encoding": ENCODING, KEY_ID_METADATA: key_id.encode(), NAMESPACE_METADATA: self.namespace.encode()}
        return Payload(metadata=metadata, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return self._marked(payload) if self.mark_plaintext else payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        bound_to = self._bound_to(payload, key_id)  # refuses another namespace's payload before any key is used
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownEncryptionKey(key_id, self.ring.ids if self.ring else [])
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], bound_to)
        except InvalidTag:
            raise PayloadTampered(
                f"Payload under key id {key_id!r} fails authentication: it was altered after encryption (its data, key "
                f"id or namespace), or the key named {key_id!r} in this process is not the one it was encrypted with. "
                "Compare the key line with the one the writing worker holds."
            ) from None
        return Payload.FromString(plain)

    @staticmethod
    def _marked(payload: Payload) -> Payload:
        marked = Payload()
        marked.CopyFrom(payload)
        marked.metadata[PLAINTEXT_MARK] = b"1"
        return marked

    def _bound_to(self, payload: Payload, key_id: str) -> bytes:
        """The associated data `payload` must have been sealed with to be readable here, or why it is not."""
        if NAMESPACE_METADATA not in payload.metadata:
            if not self.accept_unbound:
                raise UnboundPayloadRefused(key_id)
            return key_id.encode()  # sealed before namespaces were bound: the key id alone
        bound = payload.metadata[NAMESPACE_METADATA].decode(errors="replace")
        if bound != self.namespace:
            raise NamespaceMismatch(bound, self.namespace)
        return associated_data(key_id, bound)


def associated_data(key_id: str, namespace: str) -> bytes:
    """What a payload's ciphertext is bound to besides its key. NUL-separated (a key id holds none), so that no pair
    reads as another and none as the bare key id that payloads from before the namespace binding were sealed with:
    removing the namespace from the metadata cannot pass a payload off as an old one. Changing this breaks every
    history written since; tests/unit/test_codec.py holds a sealed payload that must keep decrypting."""
    return b"\0".join((b"cadenza-payload/2", key_id.encode(), namespace.encode()))


def _checked_namespace(namespace: str) -> str:
    if not namespace:
        raise EncryptionError(
            "a payload codec needs the Temporal namespace its payloads belong to (TEMPORAL_NAMESPACE)"
        )
    return namespace


class ReadableFailure:
    """Mixed into an error whose message names no customer data and must be read by whoever lacks the keys: a refusal
    of an unencrypted or unsigned request (workers/intake.py, cadenza.decisions) is read by its sender."""


class EncodedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    """Failure messages and stack traces moved into an encoded (so encrypted) payload, except for Cadenza's own
    encryption errors and refusals (`ReadableFailure`): they name key ids or rules, never data, and must stay readable
    to whoever lacks the keys — the operator looking at a workflow task that fails because a worker misses a key, the
    sender of a request refused for want of encryption or a proof."""

    _plain = DefaultFailureConverter()

    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        if isinstance(exception, (EncryptionError, ReadableFailure)):
            self._plain.to_failure(exception, payload_converter, failure)
        else:
            super().to_failure(exception, payload_converter, failure)


def data_converter(ring: KeyRing | None, *, namespace: str, accept_unbound: bool = True) -> DataConverter:
    """The pydantic converter with the encryption codec and, when encrypting, failure messages and stack traces moved
    into an encoded (so encrypted) payload too: a reason can quote customer data. Without a ring the codec is still
    there, so that an encrypted payload fails naming its key id instead of as an unknown encoding; failures then stay
    plain text, which is all encoding them would give. `failure_converter=` cannot be passed: it is derived from the
    class (init=False). Reading failures works either way: both classes decode encoded attributes when present.
    `namespace` is the one the client connects to: its payloads are bound to it (see `EncryptionCodec`). Unencrypted
    payloads are marked on decode (`PLAINTEXT_MARK`), which only a worker's intake check reads."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(ring, namespace=namespace, accept_unbound=accept_unbound, mark_plaintext=True),
        failure_converter_class=EncodedFailureConverter if ring else DefaultFailureConverter,
    )
