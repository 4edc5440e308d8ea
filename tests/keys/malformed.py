"""Key configuration gone wrong in every way people get it wrong, each made around fresh random key material, and a
check that none of that material shows up in some output — whole, in pieces, wrapped over lines (rich tables), as
raw bytes, hex or a bytes repr."""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cadenza.codec import KEYS_ENV, KEYS_FILE_ENV

WINDOW = 12  # characters of base64 (72 bits) or 8 raw bytes: no output holds one of those by chance
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]")
_NOT_HEX = re.compile(r"[^0-9a-f]")


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass(frozen=True)
class Shape:
    """A value for CADENZA_ENCRYPTION_KEYS or the content of a key file, and the key material it carries."""

    name: str
    text: str | bytes
    keys: tuple[bytes, ...]
    """Raw key bytes the text carries (their base64, hex and repr must never be printed)."""
    fragments: tuple[str, ...] = field(default=())
    """Text of the shape that carries key material without being any key's base64 (a broken key, say)."""
    sets_keys: bool = True
    """False where the value means "no keys" (empty, blank): such a process must refuse for lack of keys."""

    @property
    def fits_in_a_variable(self) -> bool:
        # An environment string holds no NUL and (Linux) at most 128 KiB; raw bytes go in files only.
        return isinstance(self.text, str) and "\0" not in self.text and len(self.text) < 120_000

    def write(self, path: Path) -> Path:
        path.write_bytes(self.text if isinstance(self.text, bytes) else self.text.encode())
        return path


def shapes() -> list[Shape]:
    """Every shape, with material of its own (so a leak cannot be mistaken for another test's output)."""
    k, k2 = os.urandom(32), os.urandom(32)
    key, key2 = b64(k), b64(k2)
    return [
        Shape("wrong length: 16 bytes", f"k1={b64(k[:16])}", (k[:16],)),
        Shape("wrong length: 48 bytes", f"k1={b64(k + k2[:16])}", (k + k2[:16],)),
        Shape("bad base64: a stray character", f"k1={key[:10]}!{key[10:]}", (k,), (key[:10], key[10:])),
        Shape("bad base64: padding missing", f"k1={key[:-1]}", (k,)),
        Shape("missing id", key, (k,)),
        Shape("missing id, '=' kept", f"={key}", (k,)),
        Shape("key where the id goes", f"{key}={key2}", (k, k2)),
        Shape("duplicate ids", f"k1={key},k1={key2}", (k, k2)),
        Shape("empty", "", (), sets_keys=False),
        Shape("whitespace only", "  \t \n ", (), sets_keys=False),
        Shape("whitespace inside the key", f"k1={key[:20]} {key[20:]}", (k,), (key[:20], key[20:])),
        Shape("key on the line after its id", f"k1=\n{key}", (k,)),
        Shape("non-ASCII inside the key", f"k1={key[:20]}é{key[20:]}", (k,), (key[:20], key[20:])),
        Shape("non-ASCII id", f"clé-ü={key}", (k,)),
        Shape("huge", f"k1={key * 1500}", (k,)),
        Shape("raw key bytes, not base64", b"k1=" + k + b"\n", (k,)),
    ]


def key_line_as_path() -> Shape:
    """The other classic: a key line put in CADENZA_ENCRYPTION_KEYS_FILE, where a path belongs."""
    k = os.urandom(32)
    return Shape("a key line as the file's path", f"k1={b64(k)}", (k,))


def cases() -> list[tuple[Shape, str]]:
    """Every shape, each way it can reach a process: `env` (the variable holds it), `file` (a key file does),
    `path` (the *_FILE variable does)."""
    found = [(shape, "env") for shape in shapes() if shape.fits_in_a_variable]
    found += [(shape, "file") for shape in shapes()]
    return [*found, (key_line_as_path(), "path")]


def configuration(shape: Shape, way: str, folder: Path) -> dict[str, str]:
    """The key variables that bring `shape` to a process `way` (the other one unset)."""
    if way == "env":
        return {KEYS_ENV: str(shape.text)}
    if way == "file":
        return {KEYS_FILE_ENV: str(shape.write(folder / "encryption-keys"))}
    return {KEYS_FILE_ENV: str(shape.text)}


def leaks(output: str | bytes, shape: Shape) -> list[str]:
    """Where key material of `shape` shows in `output` (empty: nowhere)."""
    data = output if isinstance(output, bytes) else output.encode("utf-8", "surrogateescape")
    text = data.decode("utf-8", "replace")
    flat_base64 = _NOT_BASE64.sub("", text)
    flat_hex = _NOT_HEX.sub("", text.lower())
    found = []
    for number, raw in enumerate(shape.keys, start=1):
        if _any_window(_NOT_BASE64.sub("", b64(raw)), flat_base64, WINDOW):
            found.append(f"key {number} as base64")
        if _any_window(raw, data, 8):
            found.append(f"key {number} as raw bytes")
        if _any_window(raw.hex(), flat_hex, 2 * 8):
            found.append(f"key {number} as hex")
        if _any_window(repr(raw)[2:-1], text, WINDOW):
            found.append(f"key {number} as a bytes repr")
    for fragment in shape.fragments:
        if _any_window(_NOT_BASE64.sub("", fragment), flat_base64, WINDOW):
            found.append(f"fragment {fragment[:4]}… of the value")
    return found


def _any_window(material: str | bytes, haystack: str | bytes, size: int) -> bool:
    windows: Iterable[str | bytes] = (material[i : i + size] for i in range(max(1, len(material) - size + 1)))
    return any(len(window) == size and window in haystack for window in windows)  # type: ignore[operator]
