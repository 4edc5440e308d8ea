"""The Order API's one Temporal client, and what the API answers while Temporal cannot be reached.

One client per process, created at start-up (clients are bound to their event loop: with several uvicorn workers,
each process connects after the fork). If Temporal is down at start-up the API still starts — liveness is not
readiness — and every request that needs Temporal answers `503` with `Retry-After` until a reconnect succeeds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cadenza.connection import TemporalUnavailable
from cadenza.problems import Problem

RETRY_AFTER_S = 5
# A failed connect is not retried on every request: a burst of requests while Temporal is down must not become a
# burst of connection attempts.
_RECONNECT_EVERY_S = 2.0
_UNAVAILABLE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


def temporal_down(reason: str) -> Problem:
    return Problem(
        503,
        "Temporal is unavailable",
        f"{reason} Nothing was changed; retry after {RETRY_AFTER_S} s.",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class TemporalGate:
    """Hands out the client, connecting (again) when needed; raises the 503 problem when it cannot."""

    def __init__(self, connect: Callable[[], Awaitable[Client]]) -> None:
        self._connect = connect
        self._client: Client | None = None
        self._last_attempt = 0.0
        self._last_error = "not connected yet."
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Try once at start-up; a failure is remembered, not raised."""
        await self._try_connect()

    async def client(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None and time.monotonic() - self._last_attempt >= _RECONNECT_EVERY_S:
                    await self._try_connect()
        if self._client is None:
            raise temporal_down(f"Cannot reach Temporal: {self._last_error}")
        return self._client

    async def _try_connect(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            self._client = await self._connect()
        except TemporalUnavailable as err:
            self._last_error = str(err).split(". Start the embedded stack")[0] + "."


def is_unreachable(err: BaseException) -> bool:
    """Whether `err` says Temporal could not be reached (rather than refusing the request)."""
    return isinstance(err, RPCError) and err.status in _UNAVAILABLE


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    """An RPC that failed because Temporal is unreachable becomes the 503 problem; any other RPC error propagates."""
    try:
        yield
    except RPCError as err:
        if is_unreachable(err):
            raise temporal_down(f"Temporal did not answer ({err.message}).") from None
        raise
