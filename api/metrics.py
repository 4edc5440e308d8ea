"""The Order API's request metrics, in the Prometheus conventions the worker's metrics use (`cadenza_` prefix, base
units, a `_total` counter and a histogram in seconds), served at `GET /metrics` for a scraper inside the cluster.

Labelled by the route *template* (`/orders/{order_id}`), never the raw path: order ids would explode the series.

Also the size of the manual-review queue (`cadenza_review_queue_size`): orders in `awaiting_review`, counted from
Temporal visibility when scraped — a fleet-wide number no single workflow or worker holds. (The time each review took
is the workers' `cadenza_review_decision_time`.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from cadenza.search_attributes import ORDER_STATUS
from workflows.models import OrderState

log = logging.getLogger("cadenza.api")

REVIEW_QUEUE_QUERY = (
    f'WorkflowType="OrderWorkflow" AND ExecutionStatus="Running" '
    f'AND {ORDER_STATUS.name}="{OrderState.AWAITING_REVIEW.value}"'
)
# A scrape must answer even when Temporal does not: the queue's size is then left out of that scrape.
_COUNT_TIMEOUT_S = 2.0


class ApiMetrics:
    def __init__(self, temporal: Callable[[], Awaitable[Client]] | None = None) -> None:
        self._temporal = temporal
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cadenza_api_requests", "Order API requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "cadenza_api_request_duration_seconds",
            "Time to the start of the answer",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )

        self.review_queue = Gauge(
            "cadenza_review_queue_size",
            "Orders waiting in awaiting_review for a person's decision",
            registry=self.registry,
        )

    async def exposition(self, _: Request) -> Response:
        await self._count_review_queue()
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def _count_review_queue(self) -> None:
        if self._temporal is None:
            return
        try:
            client = await self._temporal()
            count = await asyncio.wait_for(client.count_workflows(REVIEW_QUEUE_QUERY), _COUNT_TIMEOUT_S)
        except Exception as err:  # noqa: BLE001 — Temporal unavailable: the scrape still answers, without the queue
            log.warning("review queue not counted: %s", err)
            self.review_queue.set(float("nan"))
            return
        self.review_queue.set(count.count)


class RequestMetrics:
    """ASGI middleware counting every answer by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/metrics":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()

        async def measured(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = getattr(scope.get("route"), "path", "unmatched")
                self._metrics.requests.labels(scope["method"], route, str(message["status"])).inc()
                self._metrics.duration.labels(scope["method"], route).observe(time.perf_counter() - started)
            await send(message)

        await self._app(scope, receive, measured)
