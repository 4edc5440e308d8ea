"""Simulated payment provider, Stripe-like: charges with test tokens, declines, refunds."""

from __future__ import annotations

from services.common.app_factory import ServiceDefinition
from services.payment.routes import build_router
from services.payment.tables import SCHEMA

PAYMENT = ServiceDefinition(
    name="payment",
    title="Cadenza simulated payment provider",
    description=(
        "Stripe-like charges and refunds. Amounts are integer minor units. Test tokens: tok_visa, "
        "tok_mastercard (succeed), tok_chargeDeclined, tok_insufficientFunds (402, recorded as failed)."
    ),
    schema=SCHEMA,
    build_router=build_router,
)


create_app = PAYMENT.create_app
"""``create_app(db_path, token, faults=None, seed=None) -> FastAPI``: see :meth:`ServiceDefinition.create_app`."""
