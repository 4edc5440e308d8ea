"""Assembles a simulated service from its definition: one place that wires every shared concern."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastapi import APIRouter, Depends, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from services.common.admin import build_admin_router
from services.common.auth import bearer_token_guard
from services.common.database import Database, SeedData
from services.common.error_docs import AUTHENTICATED, FAULTED, VALIDATED, error_docs
from services.common.errors import install_error_handlers
from services.common.fault_middleware import FaultInjectionMiddleware
from services.common.faults import FaultConfig, FaultInjector
from services.common.idempotency import IDEMPOTENCY_SCHEMA
from services.common.mutations import IDEMPOTENCY_KEY_HEADER, MutationRunner
from services.common.stats import ServiceStats

SERVICE_VERSION = "1.0.0"


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything that makes one service different from the others."""

    name: str
    """Short name, reported by ``/health``: ``erp``, ``payment``, ``inventory``."""
    title: str
    description: str
    schema: str
    """SQLite DDL for the service's own tables."""
    build_router: Callable[[Database], APIRouter]
    """Creates the service's (bearer-protected) business routes over its database."""
    seed_data: SeedData | None = None
    """Fills the tables the first time the database file is created."""
    key_header: str = IDEMPOTENCY_KEY_HEADER
    """The header the service's requests carry their idempotency keys in."""

    def create_app(
        self, db_path: str | Path, token: str, faults: FaultConfig | None = None, seed: int | None = None
    ) -> FastAPI:
        """Build this service's app over the SQLite file ``db_path``, admitting ``Bearer <token>``.

        ``faults`` is the initial fault configuration; ``seed`` seeds random
        faults whose configuration carries no seed of its own. The database is
        opened and initialised here, so the app works without a lifespan run
        (as under httpx's ASGITransport).
        """
        database = Database(db_path, self.schema + IDEMPOTENCY_SCHEMA, self.seed_data)
        stats = ServiceStats()
        injector = FaultInjector(faults, default_seed=seed)
        requires_token = [Depends(bearer_token_guard(token))]

        @asynccontextmanager
        async def close_database_on_shutdown(_: FastAPI) -> AsyncIterator[None]:
            yield
            database.close()

        app = FastAPI(
            title=self.title, description=self.description, version=SERVICE_VERSION, lifespan=close_database_on_shutdown
        )
        app.state.mutation_runner = MutationRunner(database, stats, misbehaviour=lambda: injector.idempotency)
        install_error_handlers(app)
        app.add_middleware(FaultInjectionMiddleware, injector=injector, stats=stats, key_header=self.key_header)
        app.include_router(_health_router(self.name, database))
        # Routes document their own 404s and conflicts; these are what any of them may answer. Admin requests are
        # never faulted (see fault_middleware), so they do not document 429 and 503.
        app.include_router(
            self.build_router(database),
            dependencies=requires_token,
            responses=error_docs(AUTHENTICATED, VALIDATED, FAULTED),
        )
        app.include_router(
            build_admin_router(injector, stats),
            dependencies=requires_token,
            responses=error_docs(AUTHENTICATED, VALIDATED),
        )
        # Server spans, continuing the caller's trace from its `traceparent` header. Health checks and the admin API
        # are left out: they would drown the orders' traces.
        FastAPIInstrumentor.instrument_app(
            app, excluded_urls="health,admin,openapi.json,docs", exclude_spans=["receive", "send"]
        )
        return app


class AppFactory(Protocol):
    """The ``create_app`` every service package exposes (a bound :meth:`ServiceDefinition.create_app`)."""

    def __call__(
        self, db_path: str | Path, token: str, faults: FaultConfig | None = None, seed: int | None = None
    ) -> FastAPI:
        """Build the service's app."""
        ...


def _health_router(service_name: str, database: Database) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health", summary="Liveness and readiness; needs no token", operation_id="health")
    async def health() -> dict[str, str]:
        database.fetch_value("SELECT 1")  # proves the database answers, not just the process
        return {"status": "ok", "service": service_name}

    return router
