"""The test payment tokens the simulated provider understands, after Stripe's test cards.

Only the card brand is ever kept: the token itself is a credential and is
neither stored nor echoed (not even in error messages).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import ServiceError


@dataclass(frozen=True)
class Decline:
    """Why an issuer refused a charge."""

    code: str
    message: str


@dataclass(frozen=True)
class TestCard:
    """What a test token stands for."""

    brand: str
    decline: Decline | None = None


_TEST_CARDS: dict[str, TestCard] = {
    "tok_visa": TestCard("visa"),
    "tok_mastercard": TestCard("mastercard"),
    # Stripe's declining test tokens are Visa cards too.
    "tok_chargeDeclined": TestCard("visa", Decline("card_declined", "Your card was declined.")),
    "tok_insufficientFunds": TestCard("visa", Decline("insufficient_funds", "Your card has insufficient funds.")),
}


TEST_TOKENS: tuple[str, ...] = tuple(_TEST_CARDS)
"""Every token a charge accepts, as published in the OpenAPI document."""


def card_for_token(payment_token: str) -> TestCard:
    """Resolve a token; 400 ``invalid_payment_token`` for anything unknown."""
    card = _TEST_CARDS.get(payment_token)
    if card is None:
        raise ServiceError(
            400,
            "invalid_payment_token",
            "The payment token is not valid; use one of: " + ", ".join(sorted(_TEST_CARDS)),
        )
    return card
