"""`Prefer` (RFC 7240) on `POST /orders`: the one preference the API acts on is `wait`.

    Prefer: wait=30        wait up to 30 s for the order to close (at most 60: larger values wait 60)
    Prefer: wait=payment   wait for the payment decision

Other preferences are ignored, as RFC 7240 asks. A `wait` whose value is neither a number of seconds nor `payment`
(`wait=nan`, `wait=-1`, `wait=1e9`, a bare `wait`) is refused with a 422: the client meant to wait and would not.

`PREFER_PATTERN` states the same rule for the OpenAPI document, and `wait_preference` applies it from the same
pieces, so the document and the API cannot disagree (tests/unit/test_api_preferences.py checks them against each
other on generated headers).
"""

from __future__ import annotations

import re
from typing import Final, Literal

from cadenza.problems import InvalidField, Problem

MAX_WAIT_S = 60
PAYMENT: Final = "payment"

Wait = float | Literal["payment"]

_OWS = r"[ \t]*"
_WAIT_NAME = r"[Ww][Aa][Ii][Tt]"
_WAIT_VALUE = r'"?(?:[Pp][Aa][Yy][Mm][Ee][Nn][Tt]|[0-9]{1,9}(?:\.[0-9]{1,9})?)"?'
_END_OF_VALUE = r"(?:[;,]|$)"

PREFER_PATTERN = (
    # Anything, unless somewhere a preference named wait has no value or one that is not a number or `payment`.
    rf"^(?!.*(?:^|,){_OWS}{_WAIT_NAME}{_OWS}(?:[;,]|$|=(?!{_OWS}{_WAIT_VALUE}{_OWS}{_END_OF_VALUE}))).*$"
)
PREFER_DESCRIPTION = (
    "RFC 7240. `wait=N` waits up to N seconds (a number; more than 60 waits 60) for the order to close; "
    "`wait=payment` waits for its payment decision. Other preferences are ignored; a `wait` with any other value is "
    "refused (422). Over the key's limit of held requests the order is answered at once, without "
    "`Preference-Applied`."
)

_NAME = re.compile(rf"{_OWS}{_WAIT_NAME}{_OWS}")
_VALUE = re.compile(rf"{_OWS}{_WAIT_VALUE}{_OWS}")


def wait_preference(prefer: str | None) -> Wait | None:
    """What `Prefer` asks for: seconds to wait (capped at 60), `payment`, or None (no wait, or `wait=0`). Raises the
    422 problem for a `wait` the API cannot honour."""
    first: str | None = None
    for preference in (prefer or "").split(","):
        name, equals, value = preference.split(";", 1)[0].partition("=")
        if not _NAME.fullmatch(name):
            continue
        if not equals or not _VALUE.fullmatch(value):
            raise _malformed(preference.strip())
        if first is None:  # RFC 7240: of a repeated preference, the first counts
            first = value.strip(' \t"').lower()
    if first is None:
        return None
    return PAYMENT if first == PAYMENT else (min(float(first), MAX_WAIT_S) or None)


def _malformed(preference: str) -> Problem:
    message = (
        f"{preference!r} is not a wait this API can honour: send wait=N (seconds, up to {MAX_WAIT_S}) or wait=payment"
    )
    return Problem(422, "Invalid request", f"Prefer: {message}", errors=[InvalidField(field="Prefer", message=message)])
