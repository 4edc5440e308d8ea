"""Simulated ERP: records sales orders and moves them through pending -> confirmed -> cancelled."""

from __future__ import annotations

from services.common.app_factory import ServiceDefinition
from services.erp.routes import build_router
from services.erp.tables import SCHEMA

ERP = ServiceDefinition(
    name="erp",
    title="Cadenza simulated ERP",
    description="Sales orders for the order-fulfilment saga. Amounts are integer minor units.",
    schema=SCHEMA,
    build_router=build_router,
)


create_app = ERP.create_app
"""``create_app(db_path, token, faults=None, seed=None) -> FastAPI``: see :meth:`ServiceDefinition.create_app`."""
