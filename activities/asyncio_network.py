"""A network backend for httpcore on asyncio's own streams, for the worker's plain-HTTP service pools.

httpcore runs on anyio under asyncio, which wraps every socket read and write in cancel scopes and checkpoints of
its own: in the worker's CPU profile the write of a request's headers alone cost more than h11's parsing of the
answer (docs/performance.md, "What each change did"). The same reads and writes on asyncio's streams, with
`asyncio.timeout` for httpcore's per-operation timeouts, cost a fraction of that. Errors are httpcore's, as the anyio
backend raises them, so httpx turns them into the same `httpx.TransportError`s (activities/errors.py classifies
those).

Plain TCP only: `activities.http` mounts it for `http://` services; a service reached over TLS keeps httpx's default
backend (anyio), which does TLS.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable
from typing import Any

import httpcore
from httpcore import AsyncNetworkBackend, AsyncNetworkStream
from httpcore._utils import is_socket_readable

# httpcore's socket option type: (level, option, value), value an int, bytes or None with a length.
SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class AsyncioStream(AsyncNetworkStream):
    """One TCP connection, as httpcore reads and writes it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError:
            raise httpcore.ReadTimeout(f"no data within {timeout} s") from None
        except OSError as err:
            raise httpcore.ReadError(str(err)) from err

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            if self._writer.transport.get_write_buffer_size():  # only wait when the socket did not take it all
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
        except TimeoutError:
            raise httpcore.WriteTimeout(f"could not write within {timeout} s") from None
        except OSError as err:
            raise httpcore.WriteError(str(err)) from err

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(self, *args: Any, **kwargs: Any) -> AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("the asyncio backend is plain TCP only; TLS origins use httpx's default")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # What httpcore asks of an idle pooled connection: readable means the server closed it (or sent junk).
            return is_socket_readable(self._writer.get_extra_info("socket"))
        return self._writer.get_extra_info(
            {"client_addr": "sockname", "server_addr": "peername", "socket": "socket"}.get(info, info)
        )


class AsyncioBackend(AsyncNetworkBackend):
    """Opens `AsyncioStream`s (TCP_NODELAY on, as anyio and asyncio set it)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        local = (local_address, 0) if local_address else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, local_addr=local)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} within {timeout} s") from None
        except OSError as err:
            raise httpcore.ConnectError(str(err)) from err
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("the asyncio backend connects over TCP only")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
