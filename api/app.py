"""The Order API application: `create_app()` wires the routes, the one Temporal client, auth, and the guards every
request passes (request id, body size, problem+json errors).

Stateless: every order's state lives in Temporal, API keys in a file or secret, so any number of replicas can run
behind a load balancer (the rate limit is per replica).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from activities.http import ServiceClient
from api import orders
from api.holds import Holds
from api.metrics import ApiMetrics, RequestMetrics
from api.openapi import state_the_rules
from api.page_tokens import PageTokens
from api.ratelimit import RateLimiter
from api.sagas import saga_router
from api.temporal import TemporalGate, unavailable_as_503
from api.update_guard import UpdateGuard
from cadenza.connection import connect, data_converter, encryption_summary, key_ring
from cadenza.decision_keys import decision_keys
from cadenza.http_middleware import BodyLimit, RequestId
from cadenza.problems import Problem, install_problem_handlers, problem_responses
from cadenza.processes import ensure_port_free
from cadenza.search_attributes import ALL_KEYS
from cadenza.settings import ServiceEndpoint, service_endpoint, settings
from clients.api_keys import load_key_store
from clients.catalogue import SkuCatalogue
from clients.sagas.folder import served_sagas
from workflows.policies import review_deadline_from_env
from workflows.saga_definition import SagaDefinition

MAX_BODY_BYTES = 1024 * 1024
_log = logging.getLogger("cadenza.api")


class Health(BaseModel):
    status: str
    detail: str | None = None


def create_app(
    *,
    connect_temporal: Callable[[], Awaitable[Client]] | None = None,
    task_queue: str | None = None,
    inventory: ServiceEndpoint | None = None,
    page_tokens: PageTokens | None = None,
    sagas: dict[str, SagaDefinition] | None = None,
) -> FastAPI:
    """The Order API. `connect_temporal` defaults to the standard connection (envconfig: TEMPORAL_ADDRESS, …);
    `page_tokens` to the signer keyed by CADENZA_API_PAGE_TOKEN_SECRET; `sagas` to the definitions of
    CADENZA_SAGAS_DIR (clients/sagas/folder.py: one with problems stops the process here, naming each)."""
    gate = TemporalGate(connect_temporal or (lambda: connect(service_name="cadenza-api")))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5) as http:
            app.state.skus = SkuCatalogue(ServiceClient(http, inventory or service_endpoint("inventory")))
            if (unavailable := await app.state.skus.load()) is not None:
                _log.warning("could not check SKUs against the inventory (%s); the workflow will", unavailable)
            await gate.start()
            yield

    app = FastAPI(
        title="Cadenza Order API",
        version="1.0.0",
        description=(
            "Place orders and follow them to the end: fulfilment across ERP, payment and inventory, orchestrated by "
            "Temporal; start and follow runs of the declared sagas it serves (docs/your-own-apis.md). Authenticate "
            "with `Authorization: Bearer <API key>` (`cadenza api-key create`). Errors are "
            "RFC 9457 problems (`application/problem+json`)."
        ),
        lifespan=lifespan,
    )
    app.state.temporal = gate
    app.state.task_queue = task_queue or settings().task_queue
    app.state.api_keys = load_key_store()  # a broken key secret stops the process here, not at the first request
    app.state.api_rate_limiter = RateLimiter.from_environment()  # likewise a bad CADENZA_API_RATE_LIMIT
    app.state.anonymous_rate_limiter = RateLimiter.for_addresses_from_environment()
    app.state.page_tokens = page_tokens or PageTokens.from_environment()  # and a missing page-token secret
    app.state.holds = Holds.from_environment()
    app.state.update_guard = UpdateGuard()
    review_deadline_from_env()  # and a bad CADENZA_REVIEW_DEADLINE (orders placed here are started with it)
    install_problem_handlers(app)
    app.add_exception_handler(orders.OrderStuck, orders.answer_stuck)
    app.include_router(orders.router)
    app.include_router(saga_router(served_sagas() if sagas is None else sagas))
    app.include_router(_health_router())
    state_the_rules(app, lambda: app.state.skus.known() if hasattr(app.state, "skus") else None)
    metrics = ApiMetrics(gate.client)
    app.add_route("/metrics", metrics.exposition, include_in_schema=False)
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestMetrics, metrics=metrics)
    app.add_middleware(RequestId)
    # The HTTP request is the root of the order's trace: FastAPI's server span → StartWorkflow → … → the services.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz,openapi.json,docs", exclude_spans=["receive", "send"]
    )
    return app


def _health_router():
    from fastapi import APIRouter

    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="The process is alive (needs no key, asks nothing of Temporal)")
    async def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        responses=problem_responses(503),
        summary="Ready for orders: Temporal reachable, its namespace and Cadenza's search attributes present",
    )
    async def readyz(request: Request) -> Health:
        gate: TemporalGate = request.app.state.temporal
        client = await gate.client()
        with unavailable_as_503():
            registered = await client.operator_service.list_search_attributes(
                ListSearchAttributesRequest(namespace=client.namespace)
            )
        missing = [key.name for key in ALL_KEYS if key.name not in registered.custom_attributes]
        if missing:
            raise Problem(
                503,
                "Not ready",
                f"Search attributes {', '.join(missing)} are not registered in namespace "
                f"{client.namespace}: start a worker once (it registers them), or see docs/operations.md, "
                '"Seeing every order".',
                headers={"Retry-After": "5"},
            )
        return Health(status="ready", detail=f"namespace {client.namespace}")

    return router


def serve(host: str, port: int) -> None:
    """Run the Order API under uvicorn until interrupted (`cadenza api`, `python -m api`)."""
    import uvicorn

    data_converter()  # keys first: with CADENZA_ENCRYPTION=required and none configured, refuse to start
    decision_keys()  # the API signs reviews and retries: without decision keys, refuse to start, naming the variable
    _log.log(logging.INFO if key_ring() else logging.WARNING, "%s", encryption_summary())
    ensure_port_free(host, port, "Order API")  # after the keys: a configuration error is said first, whatever the port
    _log.info("Order API on http://%s:%d (OpenAPI: http://%s:%d/docs)", host, port, host, port)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning", access_log=False)
