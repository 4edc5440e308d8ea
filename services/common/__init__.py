"""Machinery shared by the simulated services: app assembly, auth, storage, idempotency and faults.

A service package describes itself with a
:class:`~services.common.app_factory.ServiceDefinition` (name, schema, routes,
seed data) and exposes its bound ``create_app``; it never re-implements any of
these concerns itself.
"""

from cadenza.faults import FaultConfig, ScriptedFault
from services.common.errors import ServiceError

__all__ = ["FaultConfig", "ScriptedFault", "ServiceError"]
