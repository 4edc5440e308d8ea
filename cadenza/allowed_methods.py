"""The `Allow` header of a 405, right for FastAPI apps (the services and the Order API alike)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match

_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route answers at this path, asked of the routes themselves.

    Starlette builds ``Allow`` from the first route whose path matched, but FastAPI registers one route per method
    (``GET /orders`` and ``POST /orders`` are two routes, possibly in two included routers), so its header names only
    one of them.
    """
    routes = request.app.router.routes
    allowed = [
        method
        for method in _HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(allowed)
