"""Simulated inventory: seeded stock levels and all-or-nothing reservations per order."""

from __future__ import annotations

from services.common.app_factory import ServiceDefinition
from services.inventory.routes import build_router
from services.inventory.tables import SCHEMA, seed_stock

INVENTORY = ServiceDefinition(
    name="inventory",
    title="Cadenza simulated inventory",
    description=(
        "Stock levels (on_hand, reserved, available) and per-order reservations: held, then committed or "
        "released. Seeded with SKU-BOOK, SKU-MUG, SKU-TSHIRT, SKU-POSTER, SKU-LAMP (1,000,000 each) and SKU-OOS (0)."
    ),
    schema=SCHEMA,
    build_router=build_router,
    seed_data=seed_stock,
)


create_app = INVENTORY.create_app
"""``create_app(db_path, token, faults=None, seed=None) -> FastAPI``: see :meth:`ServiceDefinition.create_app`."""
