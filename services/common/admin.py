"""``/admin`` routes for steering fault injection and reading counters at run time."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ConfigDict

from services.common.fault_middleware import ADMIN_PATH_PREFIX
from services.common.faults import FaultConfig, FaultInjector
from services.common.stats import ServiceStats


class FaultConfigUpdate(FaultConfig):
    """Body of ``PUT /admin/faults``: a :class:`FaultConfig`, its types checked as strictly as any request body.

    ``FaultConfig`` itself stays lax because ``cadenza --faults`` specs spell values as text (``error_rate=0.3``).
    """

    model_config = ConfigDict(extra="forbid", strict=True)


def build_admin_router(injector: FaultInjector, stats: ServiceStats) -> APIRouter:
    """Routes to read and replace the fault configuration and to read the counters."""
    router = APIRouter(prefix=ADMIN_PATH_PREFIX, tags=["admin"])

    @router.get(
        "/faults", summary="Current fault configuration (remaining script entries only)", operation_id="readFaults"
    )
    async def read_faults() -> FaultConfig:
        return injector.config

    @router.put(
        "/faults", summary="Replace the fault configuration; `{}` turns every fault off", operation_id="replaceFaults"
    )
    async def replace_faults(config: FaultConfigUpdate) -> FaultConfig:
        injector.replace(config)
        return injector.config

    @router.get("/stats", summary="Request and injected-fault counters since start-up", operation_id="readStats")
    async def read_stats() -> ServiceStats:
        return stats

    return router
