"""The worker's connection pools survive cancelled requests (activities/connection_pool.py).

Against a real HTTP server on a local socket: httpx's own pool (httpcore 1.0.9) loses a slot for good to some cancels,
and a burst of cancels leaves it with none (encode/httpcore#1093), after which every call to that service times out.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from activities.connection_pool import CancelSafePool
from activities.http import CONNECTIONS_PER_SERVICE, ServiceClient, new_http_client
from cadenza.settings import ServiceEndpoint


@dataclass
class Server:
    """A keep-alive HTTP/1.1 server answering `{}` to everything, `delay` seconds after each request; it counts the
    requests it received by path."""

    url: str = ""
    delay: float = 0.0
    jitter: float = 0.0
    received: collections.Counter[str] = field(default_factory=collections.Counter)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = await reader.read(4096)
                    if not chunk:
                        return
                    head += chunk
                self.received[head.split(b" ")[1].decode()] += 1
                await asyncio.sleep(self.delay + random.random() * self.jitter)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def running(server: Server) -> AsyncIterator[Server]:
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listening.close()


async def churn(send: object, seconds: float) -> None:
    """40 requests at a time, each given up after 0–20 ms (a deadline, a timed-out attempt), for `seconds`."""

    async def one() -> None:
        try:
            async with asyncio.timeout(random.random() * 0.02):
                await send()  # type: ignore[operator]
        except (TimeoutError, httpx.HTTPError):
            pass

    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        await asyncio.gather(*(one() for _ in range(40)))


async def test_cancelled_requests_never_wedge_a_service_pool() -> None:
    async with running(Server(jitter=0.01)) as server:
        endpoint = ServiceEndpoint("erp", server.url, "token")
        async with new_http_client({"erp": endpoint}) as http:
            erp = ServiceClient(http, endpoint)
            await churn(lambda: erp.get_json("/churn"), seconds=2)
            # A plain httpx pool is wedged by now: each of these would wait its 5 s pool timeout and fail.
            started = time.monotonic()
            answers = await asyncio.gather(*(erp.get_json(f"/after/{i}") for i in range(30)))
            took = time.monotonic() - started
    assert answers == [{}] * 30
    assert took < 2, f"30 calls after the cancels took {took:.1f} s"
    assert all(server.received[f"/after/{i}"] == 1 for i in range(30))


async def test_every_slot_comes_back_however_its_request_ended() -> None:
    """Cancelled while waiting for a slot, while connecting, while sending, while reading the answer: each request
    gives its slot back, or the pool would shrink to nothing on its own."""
    async with running(Server(jitter=0.01)) as server:
        pool = CancelSafePool(CONNECTIONS_PER_SERVICE, name="erp")
        async with httpx.AsyncClient(transport=pool, timeout=httpx.Timeout(5.0, connect=2.0)) as http:
            await churn(lambda: http.get(server.url + "/churn"), seconds=2)
            assert pool._slots._value == CONNECTIONS_PER_SERVICE.max_connections
            assert pool._pool.carrying == 0 and not pool._retired


async def test_a_pool_that_lost_its_slots_is_replaced_and_the_request_sent_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with running(Server(jitter=0.01)) as server:
        pool = CancelSafePool(CONNECTIONS_PER_SERVICE, name="erp")
        async with httpx.AsyncClient(transport=pool, timeout=httpx.Timeout(5.0, connect=2.0)) as http:
            # Cancels made straight on httpx's pool underneath, as if they had all slipped through: it loses its slots.
            # (Not closed here: closing this client would close that pool, which `pool` owns.)
            lost = pool._pool.transport
            behind = httpx.AsyncClient(transport=lost, timeout=httpx.Timeout(5.0, pool=1.0))
            await churn(lambda: behind.get(server.url + "/behind"), seconds=2)
            with pytest.raises(httpx.PoolTimeout):
                await behind.get(server.url + "/wedged")
            assert server.received["/wedged"] == 0

            # Several requests at once find the pool lost: one replaces it, each is sent once on the new one.
            answers = await asyncio.gather(*(http.get(f"{server.url}/after/{i}") for i in range(5)))
            answer = await http.get(server.url + "/after")

            assert [answer.json() for answer in answers] == [{}] * 5
            assert all(server.received[f"/after/{i}"] == 1 for i in range(5))
            assert answer.json() == {}
            assert pool.replaced == 1
            assert [
                record.getMessage().split(":")[0]
                for record in caplog.records
                if "lost connections" in record.getMessage()
            ] == ["erp"]
            assert server.received["/after"] == 1  # the wait in the lost pool sent nothing
            assert pool._pool.transport is not lost and not pool._retired  # the lost pool, carrying nothing, is closed


async def test_a_busy_pool_without_cancels_is_never_replaced() -> None:
    async with running(Server(delay=0.002, jitter=0.01)) as server:
        pool = CancelSafePool(CONNECTIONS_PER_SERVICE, name="erp")
        async with httpx.AsyncClient(transport=pool, timeout=httpx.Timeout(5.0, connect=2.0)) as http:
            answers = await asyncio.gather(*(http.get(f"{server.url}/busy/{i}") for i in range(300)))
    assert [answer.status_code for answer in answers] == [200] * 300
    assert pool.replaced == 0


async def test_waiting_longer_than_the_pool_timeout_for_a_busy_pool_is_a_pool_timeout() -> None:
    async with running(Server(delay=1.0)) as server:
        pool = CancelSafePool(httpx.Limits(max_connections=1), name="erp")
        async with httpx.AsyncClient(transport=pool, timeout=httpx.Timeout(5.0, pool=0.2)) as http:
            first = asyncio.create_task(http.get(server.url + "/slow"))
            await asyncio.sleep(0.1)
            with pytest.raises(httpx.PoolTimeout, match="erp: all 1 connections stayed busy"):
                await http.get(server.url + "/queued")
            assert (await first).status_code == 200
    assert server.received["/queued"] == 0 and pool.replaced == 0


def test_a_pool_needs_a_connection_limit() -> None:
    with pytest.raises(ValueError, match="connection limit"):
        CancelSafePool(httpx.Limits(max_connections=None), name="erp")
