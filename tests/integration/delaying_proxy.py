"""A TCP proxy in front of one HTTP service that holds selected requests back before forwarding them.

It reproduces a slow network path: the client's request bytes sit in the proxy for N seconds, so the request reaches
the service *after* the client's timeout fired, its connection closed, and whatever came next (a retry, a cancel, a
compensation) ran. The service then applies it as usual — the late commit a saga has to fence.

Usage::

    async with DelayingProxy(stack.config.service_url("payment")) as proxy:
        endpoints = stack.config.endpoints()
        endpoints["payment"] = dataclasses.replace(endpoints["payment"], base_url=proxy.url)  # for order_worker()
        proxy.delay("order-42/charge_payment", seconds=15)   # the next request whose head contains this
        ...                                                  # the worker's call times out after 5 s
        forwarded = await proxy.answered("order-42/charge_payment", timeout=30)
        assert forwarded.status == 201                        # it reached the service 15 s in, and committed

* ``delay(match, seconds, times=1)`` holds the next ``times`` requests whose head (request line and headers, e.g.
  the ``Idempotency-Key``) contains ``match`` (``times=None``: every one). The first matching rule with uses left
  applies. ``clear()`` drops every rule; requests already held keep their delay.
* Held requests are forwarded even when their client has gone; the proxy then keeps the upstream connection open
  until the service has answered (a service that sees its caller hang up mid-request may drop the request), and
  throws the answer away.
* ``requests`` lists every request seen, in arrival order, as :class:`ProxiedRequest`; ``answered(match)`` waits
  for the first one matching to be answered by the service; ``idle()`` waits until nothing is held or in flight.
* ``stop()`` (or leaving the ``async with``) closes everything; requests still held are then never forwarded.

HTTP/1.1 only, framed by ``Content-Length`` or chunked encoding — what httpx and uvicorn speak; a connection's
requests are forwarded one after the other, each on an upstream connection of its own, so a held request also holds
the ones behind it, as a slow path would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_NO_BODY_STATUSES = frozenset({204, 304})


@dataclass
class _DelayRule:
    match: str
    seconds: float
    times: int | None


@dataclass
class ProxiedRequest:
    """One request as the proxy saw it."""

    head: str
    """Request line and headers, as sent by the client (latin-1 decoded)."""
    delay_s: float = 0.0
    received_at: float = field(default_factory=time.monotonic)
    forwarded_at: float | None = None
    """When its bytes went upstream (``None``: still held, or dropped by ``stop()``)."""
    status: int | None = None
    """The service's answer (``None`` until it answered)."""
    answered_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def request_line(self) -> str:
        return self.head.split("\r\n", 1)[0]

    @property
    def method(self) -> str:
        return self.request_line.split(" ", 1)[0]


class DelayingProxy:
    """Forwards ``127.0.0.1:<port>`` to ``upstream_url``, holding back the requests that match a delay rule."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream {upstream_url!r}: give it as http://HOST:PORT (plain HTTP with a port)")
        self._upstream = (parts.hostname, parts.port)
        self._rules: list[_DelayRule] = []
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.requests: list[ProxiedRequest] = []

    @property
    def url(self) -> str:
        """Where clients should send their requests instead of the upstream."""
        if self._server is None:
            raise RuntimeError("the proxy is not running: call start() (or use `async with`) first")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> DelayingProxy:
        self._server = await asyncio.start_server(self._accepted, "127.0.0.1", 0)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> DelayingProxy:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def delay(self, match: str, seconds: float, *, times: int | None = 1) -> None:
        """Hold the next ``times`` requests whose head contains ``match`` for ``seconds`` before forwarding them."""
        self._rules.append(_DelayRule(match, seconds, times))

    def clear(self) -> None:
        """Forward every new request at once (requests already held keep their delay)."""
        self._rules.clear()

    async def answered(self, match: str, *, timeout: float = 30.0) -> ProxiedRequest:
        """The first request whose head contains ``match``, once the service has answered it."""
        async with asyncio.timeout(timeout):
            while True:
                seen = next((request for request in self.requests if match in request.head), None)
                if seen is not None:
                    await seen.answered_event.wait()
                    return seen
                await asyncio.sleep(0.05)

    async def idle(self, *, timeout: float = 30.0) -> None:
        """Wait until every request seen so far has been forwarded and answered."""
        async with asyncio.timeout(timeout):
            for request in list(self.requests):
                await request.answered_event.wait()

    def _delay_for(self, head: str) -> float:
        for rule in self._rules:
            if rule.match in head and rule.times != 0:
                if rule.times is not None:
                    rule.times -= 1
                return rule.seconds
        return 0.0

    async def _accepted(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._relay(client_reader, client_writer)
        finally:
            self._connections.discard(task)
            client_writer.close()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        while (message := await _read_message(client_reader)) is not None:
            head, raw = message
            request = ProxiedRequest(head, delay_s=self._delay_for(head))
            self.requests.append(request)
            if request.delay_s:
                await asyncio.sleep(request.delay_s)  # the client may time out and hang up meanwhile
            answer = await self._forward(request, raw)
            if answer is not None and not client_writer.is_closing():
                with contextlib.suppress(ConnectionError):  # the client gave up: the answer is lost, as on a real path
                    client_writer.write(answer)
                    await client_writer.drain()

    async def _forward(self, request: ProxiedRequest, raw: bytes) -> bytes | None:
        """Send one request on a connection of its own and wait for the service's answer. A fresh connection each
        time: a request held longer than the service's keep-alive timeout would otherwise go out on a connection the
        service has already closed, and never be answered."""
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        try:
            upstream_writer.write(raw)
            await upstream_writer.drain()
            request.forwarded_at = time.monotonic()
            message = await _read_message(upstream_reader, response_to=request.method)
        finally:
            upstream_writer.close()
        if message is None:
            return None
        head, answer = message
        request.status = int(head.split(" ", 2)[1])
        request.answered_event.set()
        return answer


async def _read_message(reader: asyncio.StreamReader, response_to: str | None = None) -> tuple[str, bytes] | None:
    """One HTTP/1.1 request (or, with ``response_to``, the response to that method): its head and its raw bytes.

    ``None`` when the peer closed the connection between messages (or mid-message: nothing whole to forward).
    """
    try:
        raw_head = await reader.readuntil(b"\r\n\r\n")
        head = raw_head.decode("latin-1")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return head, raw_head + await _read_chunked(reader)
        if response_to is not None and _has_no_body(head, response_to):
            return head, raw_head
        if "content-length" in headers:
            return head, raw_head + await reader.readexactly(int(headers["content-length"]))
        if response_to is not None:  # a response without length ends with the connection
            return head, raw_head + await reader.read()
        return head, raw_head
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


def _has_no_body(head: str, method: str) -> bool:
    status = int(head.split(" ", 2)[1])
    return method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    raw = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        raw += size_line
        size = int(size_line.split(b";", 1)[0], 16)
        if size == 0:
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                raw += trailer
            return raw + trailer
        raw += await reader.readexactly(size + 2)
