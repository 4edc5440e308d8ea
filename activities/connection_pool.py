"""A service's connection pool that cancelled requests cannot wedge.

httpx's pool (httpcore 1.0.9, the latest) loses a connection slot for good when a request is cancelled after the pool
handed it a connection not yet made but before the request took it (encode/httpcore#1093, open; fix proposed in
#1099): the half-made connection is neither idle, nor closed, nor reusable, so nothing ever reclaims it. The worker
cancels requests as a matter of course — a first attempt's 300 ms deadline, a local activity timed out, an HTTP
deadline, a worker shutting down — so a burst that made callers wait for connections filled a service's pool with such
slots within seconds, and every later call to that service failed with `PoolTimeout` until the worker restarted
(found with two benchmark stacks bursting at once: 101 orders left compensating; docs/performance.md).

`CancelSafePool` keeps httpx's pool and adds two things in front of it:
- **Requests wait for a connection here**, on a semaphore as large as the pool, where a cancel costs nothing. httpx's
  pool is then never given more requests than it has connections, so it never has a reason to make one wait.
- **A pool that lost slots is replaced.** A request that httpx's pool still makes wait can only be waiting for slots
  it lost: after `LOST_SLOT_WAIT` the pool is replaced by a fresh one, and the request, which was never sent, goes to
  the new pool. The old pool is closed once the last response it carries is read.

Cancels still stop requests as before (a request not yet sent is never sent): only the slots they cost come back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
from temporalio import activity

log = logging.getLogger(__name__)

POOLS_REPLACED_METRIC = "cadenza_http_pools_replaced"

# How long a request that got past the semaphore may wait inside httpx's pool before that pool is taken to have lost
# slots. Such a request should not wait at all (module docstring); this only has to outlast a busy event loop's delay.
# Shorter than a first attempt's 300 ms deadline, so that even callers that give up that soon find the pool replaced.
LOST_SLOT_WAIT = 0.1


class _Pool:
    """One httpx pool and the responses it is carrying (so that a replaced pool is closed only once they are read)."""

    def __init__(self, limits: httpx.Limits) -> None:
        self.transport = httpx.AsyncHTTPTransport(limits=limits)
        self.carrying = 0


class _ReleasedOnClose(httpx.AsyncByteStream):
    """A response body that gives its connection back to `CancelSafePool` once, when httpx closes it (after reading it
    to the end, or on any error or cancel while reading)."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], Awaitable[None]]) -> None:
        self._stream = stream
        self._release: Callable[[], Awaitable[None]] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                await release()


class CancelSafePool(httpx.AsyncBaseTransport):
    """httpx's connection pool for one service (or the default route), made safe against cancelled requests (module
    docstring). `limits.max_connections` is required: it sizes the semaphore."""

    def __init__(self, limits: httpx.Limits, *, name: str) -> None:
        if limits.max_connections is None:
            raise ValueError("CancelSafePool needs a connection limit (httpx.Limits(max_connections=...))")
        self._limits = limits
        self._name = name
        self._slots = asyncio.Semaphore(limits.max_connections)
        self._pool = _Pool(limits)
        self._retired: set[_Pool] = set()
        self.replaced = 0
        """How many times this pool was found to have lost slots and was replaced."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = dict(request.extensions.get("timeout", {}))
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"{self._name}: all {self._limits.max_connections} connections stayed busy", request=request
            ) from None
        # Inside httpx's pool a request should get its connection at once; waiting means lost slots.
        request.extensions = {**request.extensions, "timeout": {**timeouts, "pool": LOST_SLOT_WAIT}}
        try:
            pool, response = await self._send(request)
        except BaseException:
            self._slots.release()
            raise

        async def release() -> None:
            pool.carrying -= 1
            self._slots.release()
            await self._settle(pool)

        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _ReleasedOnClose(response.stream, release)
        return response

    async def _send(self, request: httpx.Request) -> tuple[_Pool, httpx.Response]:
        """Send on the current pool; if it makes the request wait (lost slots), replace it and send on the new one —
        the request was never sent, so sending it again is safe."""
        for last_try in (False, True):
            pool = self._pool
            pool.carrying += 1
            try:
                return pool, await pool.transport.handle_async_request(request)
            except httpx.PoolTimeout:
                pool.carrying -= 1
                if last_try:
                    raise
                await self._replace(pool)
            except BaseException:
                pool.carrying -= 1
                await self._settle(pool)
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _replace(self, lost: _Pool) -> None:
        if lost is not self._pool:
            await self._settle(lost)  # another request replaced it already: close it if this was its last request
            return
        log.warning(
            "%s: the connection pool lost connections to cancelled requests (encode/httpcore#1093); "
            "replaced it with a fresh one (no request was lost)",
            self._name,
        )
        self.replaced += 1
        _count_replaced(self._name)
        self._pool = _Pool(self._limits)
        self._retired.add(lost)
        await self._settle(lost)

    async def _settle(self, pool: _Pool) -> None:
        """Close a replaced pool once the last response it carried is read (closing it closes the lost slots too)."""
        if pool in self._retired and pool.carrying == 0:
            self._retired.discard(pool)
            await pool.transport.aclose()

    async def aclose(self) -> None:
        for pool in (*self._retired, self._pool):
            await pool.transport.aclose()
        self._retired.clear()


def _count_replaced(service: str) -> None:
    """`cadenza_http_pools_replaced{service}` through the SDK's meter of the activity making the call (so it reaches the
    worker's Prometheus endpoint, docs/operations.md); outside an activity, nothing to count it with."""
    if activity.in_activity():
        counter = activity.metric_meter().create_counter(
            POOLS_REPLACED_METRIC, "Connection pools replaced after losing slots"
        )
        counter.add(1, {"service": service})
