"""Field types and the request base model shared by every service's API.

Money is always an integer count of minor units (cents) and is validated
strictly: ``"100"``, ``100.0`` and ``true`` are rejected rather than coerced,
because a payment API that guesses at amounts is a payment API with bugs.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

MAX_AMOUNT = 10**12
"""Largest accepted amount in minor units; keeps every sum far inside SQLite's 64-bit integers."""

Currency = Literal["EUR", "USD", "GBP", "CHF", "JPY", "SEK", "NOK", "DKK", "PLN", "CAD", "AUD"]
"""ISO-4217 codes the simulated systems trade in (upper case only)."""

SUPPORTED_CURRENCIES: tuple[str, ...] = get_args(Currency)

Amount = Annotated[
    int,
    Field(gt=0, le=MAX_AMOUNT, description="Integer minor units (cents), 1..10^12", examples=[1999]),
]

ExternalId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
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
