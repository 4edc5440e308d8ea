"""ASGI middleware that applies :class:`~services.common.faults.FaultInjector` decisions.

It is plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` because the
stall has to sit between "the handler has committed" and "the response starts",
which is exactly where wrapping ``send`` puts it, and the slow commit between
"the request has arrived" and "the handler runs", which is where wrapping
``receive`` puts it.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.errors import error_response
from services.common.faults import FaultInjector, FaultKind
from services.common.stats import ServiceStats

ADMIN_PATH_PREFIX = "/admin"
"""Requests under this prefix are never faulted, delayed or counted: they are how tests steer faults."""


class FaultInjectionMiddleware:
    """Injects latency, 503s, 429s, commit-then-stall and wait-then-commit into non-admin requests."""

    def __init__(
        self, app: ASGIApp, injector: FaultInjector, stats: ServiceStats, key_header: str = "Idempotency-Key"
    ) -> None:
        self._app = app
        self._injector = injector
        self._stats = stats
        # Scripted faults match the key as the service reads it: the flight service's arrives in X-Request-Key.
        self._key_header = key_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        path: str = scope.get("path", "")
        if scope["type"] != "http" or _is_admin(path):
            await self._app(scope, receive, send)
            return

        self._stats.requests += 1
        decision = self._injector.decide(scope["method"], path, _idempotency_key(scope, self._key_header))
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)

        if decision.fault is FaultKind.ERROR:
            self._stats.errors_injected += 1
            response = error_response(
                503, "service_unavailable", "Injected fault: service unavailable, nothing was applied"
            )
            await response(scope, receive, send)
        elif decision.fault is FaultKind.RATE_LIMIT:
            self._stats.rate_limits_injected += 1
            retry_after_s = self._injector.config.retry_after_s
            response = error_response(
                429,
                "rate_limited",
                "Injected fault: too many requests, nothing was applied",
                headers={"Retry-After": f"{retry_after_s:g}"},
                retry_after_s=retry_after_s,
            )
            await response(scope, receive, send)
        elif decision.fault is FaultKind.REFUSE:
            response = error_response(409, "refused", "Injected fault: request refused for good, nothing was applied")
            await response(scope, receive, send)
        elif decision.fault is FaultKind.STALL:
            self._stats.stalls_injected += 1
            await self._app(scope, receive, _stall_before_answering(send, self._injector.config.stall_ms / 1000))
        elif decision.fault is FaultKind.SLOW_COMMIT:
            self._stats.slow_commits_injected += 1
            # The wait is an asyncio.sleep before the handler (and so before the mutation lock): other requests are
            # served meanwhile, and this one is applied afterwards like any other.
            delayed_receive = await _received_in_full(receive)
            await asyncio.sleep(self._injector.config.slow_commit_ms / 1000)
            await self._app(scope, delayed_receive, send)
        else:
            await self._app(scope, receive, send)


def _stall_before_answering(send: Send, stall_s: float) -> Send:
    """Wrap ``send`` so the response start waits ``stall_s``.

    The handler has returned — and so committed — before it sends the first
    response message; delaying that message is commit-then-stall.
    """

    async def send_after_stall(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(stall_s)
        await send(message)

    return send_after_stall


async def _received_in_full(receive: Receive) -> Receive:
    """Read the whole request body now and return a ``receive`` that replays it.

    The caller may hang up while the request waits; uvicorn then answers every
    later ``receive()`` with ``http.disconnect`` and the body would be lost. A
    request that has fully arrived is the provider's to apply, whoever still
    listens for the answer — that is what makes the commit late rather than lost.
    """
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            break

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay


def _is_admin(path: str) -> bool:
    return path == ADMIN_PATH_PREFIX or path.startswith(ADMIN_PATH_PREFIX + "/")


def _idempotency_key(scope: Scope, header: bytes) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == header:
            # ASGI headers are bytes; latin-1 maps every byte, so junk never raises.
            decoded: str = value.decode("latin-1")
            return decoded
    return None
