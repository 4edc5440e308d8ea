"""The API key store: which keys exist, what each may do, and whether it still works.

Shared by both doors, so they cannot drift: the CLI creates, lists and revokes keys (`cadenza api-key`), the Order
API verifies them on every request.

A key is `cdz_` + `secrets.token_urlsafe(32)` (256 random bits). It is shown once, when created; only its SHA-256 is
stored. Why not bcrypt or argon2: those are slow on purpose so that a stolen hash of a *guessable* password costs an
attacker years of guessing. Nobody can guess a 256-bit random key at any speed, so a fast hash protects it just as
well, while a slow one would cost ~100 ms of CPU on every request and need a salt (and so an id inside the key to find
the entry). Unsalted, the store is a dict keyed by hash: one lookup, whose timing reveals nothing usable (a caller
cannot steer the bytes of the hash it makes us look up).

Where the keys live:
- `CADENZA_API_KEYS_FILE`: path of a mounted secret (a Kubernetes Secret, a Docker secret) holding the JSON below.
- `CADENZA_API_KEYS`: the same JSON in an environment variable.
- neither: `<CADENZA_STATE_DIR>/api-keys.json`, the development store `cadenza api-key create/revoke` writes
  (atomically, mode 0600). With a secret set the state folder is not used, and the store is read-only: provision a
  secret by creating keys against a scratch state folder and storing its api-keys.json as the secret.

    {"keys": [{"key_id": "3f9a1c2e", "name": "checkout", "sha256": "<64 hex digits>",
               "scopes": ["orders:read", "orders:write"], "customer_id": "c-17",
               "created_at": "2026-11-26T09:00:00Z", "revoked_at": null}]}

A file is re-read when it changes (checked at most once per `reload_interval` seconds), so revoking a key takes
effect in running API processes without a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_serializer, model_validator

from cadenza.errors import CadenzaError, InvalidInput
from cadenza.settings import settings, state_dir
from workflows.models import Identifier

Scope = Literal[
    "orders:write", "orders:read", "orders:operate", "orders:review", "sagas:write", "sagas:read", "sagas:operate"
]
SCOPES: tuple[str, ...] = get_args(Scope)
KEY_PREFIX = "cdz_"
KEYS_FILE_NAME = "api-keys.json"
DEFAULT_RELOAD_INTERVAL = 1.0

_KEY_SHAPE = re.compile(r"^cdz_[A-Za-z0-9_-]{16,200}$")
_log = logging.getLogger("cadenza.api.keys")


class ApiKey(BaseModel):
    """One stored key: everything about it except the key itself."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: Annotated[str, Field(pattern=r"^[a-z0-9]{4,32}$")]
    """Public and short: safe to log and to show; `cadenza api-key revoke` takes it."""
    name: Annotated[str, Field(min_length=1, max_length=64)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    scopes: frozenset[Scope]
    customer_id: Identifier | None = None
    """A bound key acts for this customer only."""
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @field_serializer("scopes")
    def _sorted(self, scopes: frozenset[str]) -> list[str]:
        return sorted(scopes)


class KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ApiKey] = []

    @model_validator(mode="after")
    def _unique(self) -> KeyFile:
        for field in ("key_id", "sha256"):
            values = [getattr(key, field) for key in self.keys]
            if len(set(values)) != len(values):
                raise ValueError(f"two keys share a {field}; each key must appear once")
        return self


class KeyStoreError(CadenzaError):
    """The keys cannot be read or changed; the message says where and what to do."""


class ReadOnlyKeyStore(KeyStoreError):
    pass


class UnknownKeyId(KeyStoreError):
    pass


class InvalidKeyEntry(InvalidInput, KeyStoreError):
    """What `create` was given does not make a valid entry (e.g. a malformed customer id)."""

    next_step = "Nothing was created."


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(text: str) -> bool:
    """A Cadenza key's shape (prefix, url-safe characters, sane length): anything else is refused before hashing."""
    return bool(_KEY_SHAPE.match(text))


@dataclass(frozen=True)
class KeyStoreSettings:
    """Where the keys come from: at most one secret source, else the state folder."""

    keys_file: Path | None = None
    keys_json: str | None = None
    state_dir: Path | None = None

    @classmethod
    def from_environment(cls) -> KeyStoreSettings:
        current = settings()
        return cls(keys_file=current.api_keys_file, keys_json=current.get("CADENZA_API_KEYS"), state_dir=state_dir())


def load_key_store(
    settings: KeyStoreSettings | None = None, *, reload_interval: float = DEFAULT_RELOAD_INTERVAL
) -> KeyStore:
    """The key store `settings` (default: the environment) describe; raises KeyStoreError if it cannot be read."""
    settings = settings or KeyStoreSettings.from_environment()
    if settings.keys_file and settings.keys_json:
        raise KeyStoreError("both CADENZA_API_KEYS_FILE and CADENZA_API_KEYS are set; keep one of them")
    if settings.keys_file:
        store = KeyStore(
            settings.keys_file, origin=f"CADENZA_API_KEYS_FILE={settings.keys_file}", reload_interval=reload_interval
        )
    elif settings.keys_json:
        store = KeyStore(None, origin="CADENZA_API_KEYS", inline=settings.keys_json, reload_interval=reload_interval)
    else:
        path = (settings.state_dir or state_dir()) / KEYS_FILE_NAME
        store = KeyStore(path, origin=str(path), writable=True, reload_interval=reload_interval)
    store.entries()  # read now: a broken secret stops the process at start-up, not at the first request
    return store


class KeyStore:
    """API keys by hash, from one source. `authenticate` is the request path; the rest is for the CLI."""

    def __init__(
        self,
        path: Path | None,
        *,
        origin: str,
        inline: str | None = None,
        writable: bool = False,
        reload_interval: float = DEFAULT_RELOAD_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path, self.origin, self.writable = path, origin, writable
        self._reload_interval, self._clock = reload_interval, clock
        self._by_hash: dict[str, ApiKey] = {}
        self._by_id: dict[str, ApiKey] = {}
        self._signature: object = None  # what the file looked like when last read
        self._loaded = False
        self._next_check = 0.0
        if inline is not None:
            self._install(_parse(inline, origin))

    @classmethod
    def from_environment(cls) -> KeyStore:
        return load_key_store()

    def authenticate(self, key: str) -> ApiKey | None:
        """The entry of `key` (revoked ones included: the caller says why it refuses), or None if unknown."""
        self._refresh()
        return self._by_hash.get(hash_key(key))

    def is_active(self, key_id: str) -> bool:
        """Whether the key `key_id` is in the store and not revoked (re-reading the store at most once per interval)."""
        self._refresh()
        entry = self._by_id.get(key_id)
        return entry is not None and not entry.revoked

    def entries(self) -> list[ApiKey]:
        """Every entry, revoked ones included, in the order they were created (the file's order)."""
        self._refresh(force=True)
        return list(self._by_hash.values())

    def create(self, *, name: str, scopes: Iterable[str], customer_id: str | None = None) -> tuple[str, ApiKey]:
        """A new key and its entry; the key itself is returned once and never stored."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._changing() as keys:
            try:
                # Validated, not typed: the scopes come as given (a CLI argument) and pydantic refuses unknown ones.
                entry = ApiKey.model_validate(
                    {
                        "key_id": _new_key_id({entry.key_id for entry in keys}),
                        "name": name,
                        "sha256": hash_key(key),
                        "scopes": frozenset(scopes),
                        "customer_id": customer_id,
                        "created_at": _now(),
                    }
                )
            except ValidationError as err:
                raise InvalidKeyEntry(_describe(err)) from None
            keys.append(entry)
        return key, entry

    def revoke(self, key_id: str) -> ApiKey:
        """Mark `key_id` revoked (kept, for the record); revoking twice keeps the first time."""
        with self._changing() as keys:
            index = next((i for i, entry in enumerate(keys) if entry.key_id == key_id), None)
            if index is None:  # raised inside the block: the file stays as it was
                raise UnknownKeyId(
                    f"no API key with id {key_id!r} in {self.origin}; `cadenza api-key list` shows the ids"
                )
            if not keys[index].revoked:
                keys[index] = keys[index].model_copy(update={"revoked_at": _now()})
            entry = keys[index]
        return entry

    @contextlib.contextmanager
    def _changing(self) -> Iterator[list[ApiKey]]:
        """Read, change and write the file under an exclusive lock, so two CLI runs never lose each other's key."""
        if not self.writable or self.path is None:
            raise ReadOnlyKeyStore(
                f"the keys come from {self.origin}, a secret this command cannot change. To make keys for it, run "
                "this command with CADENZA_API_KEYS_FILE and CADENZA_API_KEYS unset and CADENZA_STATE_DIR set to a "
                f"scratch folder, then store that folder's {KEYS_FILE_NAME} as the secret."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            keys = list(self.entries())
            yield keys
            text = KeyFile(keys=keys).model_dump_json(indent=2) + "\n"
            _write_atomically(self.path, text)
            self._refresh(force=True)

    def _refresh(self, *, force: bool = False) -> None:
        if self.path is None:
            return
        now = self._clock()
        if not force and now < self._next_check:
            return
        self._next_check = now + self._reload_interval
        signature = _signature(self.path)
        if self._loaded and signature == self._signature:
            return
        try:
            keys = _read(self.path, self.origin, missing_ok=self.writable)
        except KeyStoreError as err:
            if not self._loaded:
                raise
            # Keep serving the keys read before rather than locking every client out over a bad edit; say so once.
            _log.error("%s; still using the API keys read before", err)
            self._signature = signature
            return
        self._install(keys)
        self._signature = signature

    def _install(self, keys: KeyFile) -> None:
        self._by_hash = {entry.sha256: entry for entry in keys.keys}
        self._by_id = {entry.key_id: entry for entry in keys.keys}
        self._loaded = True


def _signature(path: Path) -> object:
    # The inode changes on every atomic replace (ours, and a Kubernetes secret's symlink swap): unlike the mtime
    # alone, it tells two writes within one timestamp tick apart.
    try:
        stat = path.stat()
    except OSError:  # missing or unreadable: reading it says which
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _read(path: Path, origin: str, *, missing_ok: bool) -> KeyFile:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if missing_ok:
            return KeyFile()
        raise KeyStoreError(f"{origin}: no such file; mount the keys secret there or unset the variable") from None
    except OSError as err:
        raise KeyStoreError(f"{origin}: cannot read it ({err.strerror}); check its permissions") from None
    return _parse(text, origin)


def _parse(text: str, origin: str) -> KeyFile:
    try:
        return KeyFile.model_validate_json(text)
    except ValidationError as err:
        raise KeyStoreError(f"{origin} is not a valid API key list: {_describe(err)}") from None


def _describe(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc']) or '(whole document)'}: {e['msg']}" for e in err.errors()[:5]
    )


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one; only the owner can read either."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a leftover temporary file keeps its old mode through O_CREAT
        with os.fdopen(fd, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _new_key_id(taken: set[str]) -> str:
    while (key_id := secrets.token_hex(4)) in taken:
        pass
    return key_id


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
