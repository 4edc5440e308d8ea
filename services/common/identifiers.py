"""Server-generated identifiers and timestamps."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

_ID_RANDOM_BYTES = 12


def new_id(prefix: str) -> str:
    """A random, unguessable id such as ``ch_3f9a…`` (prefix tells the object type at a glance)."""
    return f"{prefix}_{secrets.token_hex(_ID_RANDOM_BYTES)}"


def id_pattern(prefix: str) -> str:
    """The regular expression every id :func:`new_id` makes with ``prefix`` matches, for the OpenAPI document."""
    return f"^{prefix}_[0-9a-f]{{{2 * _ID_RANDOM_BYTES}}}$"


def utc_now() -> str:
    """The current time as an ISO-8601 UTC string with millisecond precision, e.g. ``2025-01-31T12:00:00.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
