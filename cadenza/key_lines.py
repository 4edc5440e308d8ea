"""Reading key lines (`<key id>=<32 bytes, base64>`) without ever repeating what they hold.

A line that does not parse is named by its position, never quoted, and neither is its key id: the usual mistakes — a
key pasted without its id, id and key swapped, a key line put where a file path belongs — put key material exactly
where a quoted id or line would print it, into a terminal, a log or a CI transcript. Whether a text is a key ring
(`cadenza.codec.KeyRing` builds one from what this returns) is decided here, once, for every source.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

from cadenza.errors import CadenzaError

KEY_BYTES = 32  # AES-256
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEY_ID_RULE = "1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit"
# Hundreds of key lines fit in this; a larger file is something else (a binary, a log) that must not be parsed.
MAX_KEY_FILE_BYTES = 64 * 1024
_NOT_SHOWN = "(the line is not shown: it may hold a key)"


class KeyLineError(CadenzaError, ValueError):
    """Key lines that cannot be used; the message names the line by position and never quotes it."""


def parse_key_lines(text: str, *, source: str) -> dict[str, bytes]:
    """Key id → key, in the order given (the first is the active one); `#` starts a comment, and lines are separated
    by new lines or commas. Empty if there are none; `KeyLineError` for any line that is not a usable key line."""
    keys: dict[str, bytes] = {}
    first_line_of: dict[str, int] = {}
    for position, line in enumerate(_entries(text), start=1):
        where = f"{source}, key line {position}"
        key_id, has_separator, encoded = (part.strip() for part in line.partition("="))
        if _is_a_bare_key(line):  # its base64 padding would otherwise pass for the '=' after an id
            raise KeyLineError(
                f"{where} is a key without its id: write it as '<key id>=<base64 key>', e.g. 'k1=…' {_NOT_SHOWN}"
            )
        if not has_separator:
            raise KeyLineError(f"{where} has no '=': write it as '<key id>=<base64 key>' {_NOT_SHOWN}")
        if not KEY_ID.fullmatch(key_id):
            raise KeyLineError(f"{where}: the key id before '=' must be {KEY_ID_RULE} {_NOT_SHOWN}")
        key = _decoded(encoded, where)
        if key_id in keys:
            raise KeyLineError(
                f"{where} repeats the key id of key line {first_line_of[key_id]}: give each key an id "
                "of its own (the active key comes first)"
            )
        keys[key_id], first_line_of[key_id] = key, position
    return keys


def read_key_file(path: Path, *, named_by: str) -> str:
    """The text of the key file at `path`, or `KeyLineError` saying why it cannot be one (without its content)."""
    shown = shown_path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as err:
        raise KeyLineError(f"cannot read the key file {shown}: {err.strerror}; check {named_by}") from None
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise KeyLineError(
            f"the key file {shown} is larger than {MAX_KEY_FILE_BYTES // 1024} KiB, so it is not a key "
            f"file; check that {named_by} names the file of `cadenza keys generate` lines"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyLineError(
            f"the key file {shown} is not UTF-8 text (raw key bytes?): key lines are "
            "`<key id>=<base64 key>`, as `cadenza keys generate` prints them"
        ) from None


def shown_path(path: Path) -> str:
    """`path` for a message, unless it looks like key material (a key line pasted into the *_FILE variable)."""
    text = str(path)
    if "=" in text or len(text) > 1024:
        return "(path not shown: it contains '=', as a key line does; the variable should name a file)"
    return text


def _entries(text: str) -> list[str]:
    without_comments = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    return [entry.strip() for entry in re.split(r"[,\n]", without_comments) if entry.strip()]


def _is_a_bare_key(line: str) -> bool:
    try:
        return len(base64.b64decode(line, validate=True)) == KEY_BYTES
    except ValueError:
        return False


def _decoded(encoded: str, where: str) -> bytes:
    try:
        key = base64.b64decode(encoded, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII characters
        raise KeyLineError(
            f"{where}: the key after '=' is not standard base64 (A-Z a-z 0-9 + / and = padding, no spaces) {_NOT_SHOWN}"
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyLineError(
            f"{where}: the key is {len(key)} bytes, AES-256 needs {KEY_BYTES}; make one with `cadenza keys generate`"
        )
    return key
