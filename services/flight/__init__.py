"""Simulated airline: bookings held, then ticketed (irreversible) or cancelled. Its keys arrive in ``X-Request-Key``."""

from __future__ import annotations

from services.common.app_factory import ServiceDefinition
from services.flight.routes import REQUEST_KEY_HEADER, build_router
from services.flight.tables import SCHEMA

FLIGHT = ServiceDefinition(
    name="flight",
    title="Cadenza simulated airline",
    description=(
        "Flight bookings for the travel saga. A booking is held, then ticketed or cancelled; a ticketed booking can "
        "no longer be cancelled. Requests carry their idempotency key in `X-Request-Key`. Amounts are integer minor "
        "units."
    ),
    schema=SCHEMA,
    build_router=build_router,
    key_header=REQUEST_KEY_HEADER,
)


create_app = FLIGHT.create_app
"""``create_app(db_path, token, faults=None, seed=None) -> FastAPI``: see :meth:`ServiceDefinition.create_app`."""
