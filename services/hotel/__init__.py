"""Simulated hotel: stays booked by POST and undone by DELETE, which answers the same however often it is sent."""

from __future__ import annotations

from services.common.app_factory import ServiceDefinition
from services.hotel.routes import build_router
from services.hotel.tables import SCHEMA

HOTEL = ServiceDefinition(
    name="hotel",
    title="Cadenza simulated hotel",
    description=(
        "Hotel stays for the travel saga. A stay is booked with `POST /stays` and cancelled with `DELETE "
        "/stays/{stay_id}`, which answers the same when repeated; a deleted stay answers 404 at its own URL and stays "
        "in `GET /stays`, as `cancelled`. Amounts are integer minor units."
    ),
    schema=SCHEMA,
    build_router=build_router,
)


create_app = HOTEL.create_app
"""``create_app(db_path, token, faults=None, seed=None) -> FastAPI``: see :meth:`ServiceDefinition.create_app`."""
