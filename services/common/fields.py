"""Field types and the request base model shared by every service's API.

Money is always an integer count of minor units (cents) and is validated
strictly: ``"100"``, ``100.5`` and ``true`` are rejected rather than coerced,
because a payment API that guesses at amounts is a payment API with bugs.
``100.0`` is accepted as ``100``: it is the same JSON number, and the JSON
Schema of our OpenAPI 3.1 documents counts it as an integer, so a client that
follows the published contract may send it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

# WholeNumber is re-exported (the services' models take it from here with the other field types): the `as` says so,
# or the linter's fix would drop the import as unused.
from cadenza.json_numbers import WholeNumber as WholeNumber
from cadenza.json_numbers import whole_float_as_int
from services.common.identifiers import id_pattern

MAX_AMOUNT = 10**12
"""Largest accepted amount in minor units; keeps every sum far inside SQLite's 64-bit integers."""

Currency = Literal["EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD"]
"""ISO-4217 codes the simulated systems trade in (upper case only)."""

SUPPORTED_CURRENCIES: tuple[str, ...] = get_args(Currency)

# The constraints come before the validator: after it, pydantic could not publish them as JSON Schema keywords.
Amount = Annotated[
    int,
    Field(gt=0, le=MAX_AMOUNT, description="Integer minor units (cents), 1..10^12", examples=[1999]),
    BeforeValidator(whole_float_as_int),
]

_EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
_EXTERNAL_ID_MAX_LENGTH = 64

ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=_EXTERNAL_ID_MAX_LENGTH,
        pattern=_EXTERNAL_ID_PATTERN,
        description="Caller-chosen identifier: 1..64 of A-Z a-z 0-9 _ -",
        examples=["order-1042"],
    ),
]

Sku = Annotated[str, Field(min_length=1, max_length=64, description="Stock-keeping unit", examples=["SKU-BOOK"])]


class RequestModel(BaseModel):
    """Base for request bodies: unknown fields are an error, and no type is coerced.

    Rejecting unknown fields catches a caller's typo (``ammount``) as a 422
    instead of silently applying a default, which is what real payment APIs do.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


def record_path(noun: str, example: str, **format_: Any) -> Any:
    """The path parameter naming one record, with its format (JSON Schema keywords) published.

    Published, not enforced: a value of any other form names no record that can exist, so it answers the route's
    ``404`` like any unknown id — the answer a caller already handles — rather than a 422.
    """
    return Path(
        description=f"Which {noun}; a value outside this format names none and answers 404",
        examples=[example],
        json_schema_extra=format_,
    )


def issued_id_path(noun: str, prefix: str) -> Any:
    """:func:`record_path` for an id the service issued itself (``ch_…``, ``res_…``)."""
    return record_path(noun, f"{prefix}_{'0' * 24}", pattern=id_pattern(prefix))


def external_id_path(noun: str) -> Any:
    """:func:`record_path` for a caller-chosen :data:`ExternalId`."""
    return record_path(noun, "order-1042", pattern=_EXTERNAL_ID_PATTERN, minLength=1, maxLength=_EXTERNAL_ID_MAX_LENGTH)
