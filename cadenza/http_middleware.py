"""ASGI middleware both HTTP doors (the Order API, the codec server) put in front of their routes: request ids and a
body-size limit answered as a problem document."""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cadenza.problems import Problem

REQUEST_ID = "X-Request-ID"
_log = logging.getLogger("cadenza.api")  # the name the request lines have always gone under, whichever door logs them


class RequestId:
    """Accepts the caller's `X-Request-ID` (or makes one), echoes it, and writes the access log: one line per request
    with its method, route template, status, duration, request id and caller (`request.state.caller`, which a door's
    authentication sets: an API key's name and public id, a codec token's name — never a key, token or body)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if 0 < len(given) <= 128 and given.isprintable() else uuid.uuid4().hex
        started = time.perf_counter()
        answered = False

        async def send_with_id(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode("latin-1"))]
                _access_line(scope, message["status"], started, request_id)
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        except Exception:
            if not answered:  # answered 500 further out (the app's handler for unexpected errors): say so here too
                _access_line(scope, 500, started, request_id)
            raise


def _access_line(scope: Scope, status: int, started: float, request_id: str) -> None:
    # The route template (`/orders/{order_id}`), not the path: ids stay out of the access log's route field and
    # lines group by endpoint. A path no route matched is logged as such.
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    caller = (scope.get("state") or {}).get("caller")
    _log.info(
        "%s %s → %s in %.1f ms",
        scope["method"],
        route,
        status,
        duration_ms,
        extra={
            "access": True,
            "method": scope["method"],
            "route": route,
            "status": status,
            "duration_ms": duration_ms,
            "request_id": request_id,
            "caller": caller,
        },
    )


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413 before the app reads them — by Content-Length when it is given, by
    counting when the body is chunked."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await self._too_large(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self._max:
                await self._too_large(scope, receive, send)
                return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self._app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = Problem(413, "Request body too large", f"Bodies are limited to {self._max} bytes.")
        await problem.response(scope.get("path"))(scope, receive, send)
