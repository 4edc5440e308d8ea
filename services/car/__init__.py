"""Simulated car rental: no fence endpoint; a rental is found again by the caller's ``reference``, then cancelled."""

from __future__ import annotations

from services.car.routes import build_router
from services.car.tables import SCHEMA
from services.common.app_factory import ServiceDefinition

CAR = ServiceDefinition(
    name="car",
    title="Cadenza simulated car rental",
    description=(
        "Car rentals for the travel saga. Each rental carries the caller's `reference`, unique per rental: a caller "
        "that does not know whether its request arrived looks the rental up with `GET /rentals?reference=` and "
        "cancels it. There is no fence endpoint. Amounts are integer minor units."
    ),
    schema=SCHEMA,
    build_router=build_router,
)


create_app = CAR.create_app
"""``create_app(db_path, token, faults=None, seed=None) -> FastAPI``: see :meth:`ServiceDefinition.create_app`."""
