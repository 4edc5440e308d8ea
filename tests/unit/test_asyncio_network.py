"""The worker's plain-HTTP pools on asyncio's streams (activities/asyncio_network.py), against a real local server:
answers, pooled connections, and every failure classified as the default backend's would be."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.asyncio_network import AsyncioBackend
from activities.errors import error_for_transport
from activities.http import ServiceClient, new_http_client, service_transport
from cadenza.processes import free_port
from cadenza.settings import ServiceEndpoint

ANSWER = b'{"id": "ch_1"}'

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


async def _answer_each_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 keep-alive: a 201 with a JSON body for each request (these tests send no request bodies)."""
    while await reader.readuntil(b"\r\n\r\n"):
        writer.write(
            b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(ANSWER)
        )
        writer.write(ANSWER)
        await writer.drain()


async def _answer_once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER))
    await writer.drain()
    writer.close()


async def _never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


@asynccontextmanager
async def _server(handle: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on a free port, and the list of connections it accepted (one entry each)."""
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await handle(reader, writer)  # type: ignore[misc]

    server = await asyncio.start_server(accept, "127.0.0.1", free_port())
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}", connections


def _service(http: httpx.AsyncClient, url: str) -> ServiceClient:
    return ServiceClient(http, ServiceEndpoint("payment", url, "token"))


def _uses_asyncio_backend(http: httpx.AsyncClient, url: str) -> bool:
    transport = http._transport_for_url(httpx.URL(url))
    return isinstance(getattr(transport, "_pool", None)._network_backend, AsyncioBackend)  # type: ignore[union-attr]


async def test_plain_http_services_are_called_over_asyncio_streams_on_one_kept_alive_connection() -> None:
    async with (
        _server(_answer_each_request) as (url, connections),
        new_http_client({"payment": ServiceEndpoint("payment", url, "token")}) as http,
    ):
        assert _uses_asyncio_backend(http, url)
        service = _service(http, url)
        for number in range(3):
            response = await service.post("/charges", None, idempotency_key=f"key-{number}")
            assert (response.status_code, response.json()) == (201, {"id": "ch_1"})
    assert len(connections) == 1


async def test_tls_services_keep_httpx_default_backend() -> None:
    async with new_http_client({"payment": ServiceEndpoint("payment", "https://payment.example:8443", "t")}) as http:
        assert not _uses_asyncio_backend(http, "https://payment.example:8443")


async def test_a_connection_the_server_closed_is_not_reused() -> None:
    async with (
        _server(_answer_once_then_close) as (url, connections),
        new_http_client({"payment": ServiceEndpoint("payment", url, "token")}) as http,
    ):
        service = _service(http, url)
        await service.post("/charges", None, idempotency_key="first")
        await asyncio.sleep(0.05)  # the close reaches the idle pooled connection
        assert (await service.post("/charges", None, idempotency_key="second")).status_code == 201
    assert len(connections) == 2


async def test_a_refused_connection_is_retried_as_the_default_backend_classifies_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with new_http_client({"payment": ServiceEndpoint("payment", url, "token")}) as http:
        with pytest.raises(ApplicationError) as raised:
            await _service(http, url).post("/charges", None, idempotency_key="k")
    expected = error_for_transport("payment", httpx.ConnectError("refused"))
    assert (raised.value.type, raised.value.non_retryable) == (expected.type, False)
    assert "ConnectError" in str(raised.value)


async def test_a_server_that_never_answers_is_a_read_timeout() -> None:
    async with (
        _server(_never_answer) as (url, _),
        httpx.AsyncClient(timeout=httpx.Timeout(0.2), transport=service_transport(url)) as http,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url)
