"""The Order API's request metrics, in the Prometheus conventions the worker's metrics use (`cadenza_` prefix, base
units, a `_total` counter and a histogram in seconds), served at `GET /metrics` for a scraper inside the cluster.

Labelled by the route *template* (`/orders/{order_id}`), never the raw path: order ids would explode the series.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "cadenza_api_requests", "Order API requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.duration = Histogram(
            "cadenza_api_request_duration_seconds", "Time to the start of the answer", ["method", "route"],
            registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )

    def exposition(self, _: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


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
