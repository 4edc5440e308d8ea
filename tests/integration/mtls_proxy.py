"""A TLS front for a plain-text Temporal dev server, demanding a client certificate: what a frontend configured with
`requireClientAuth` does at the handshake, for tests.

Why a proxy: `temporal server start-dev` has no TLS options, so mutual TLS is terminated here, with Python's `ssl`
verifying the client against the CA exactly as the frontend would, and the gRPC bytes (HTTP/2, negotiated by ALPN)
forwarded untouched. Records the subject of every client certificate it accepted and every handshake it refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

from cadenza.processes import free_port


class MutualTlsProxy:
    def __init__(self, upstream: str, *, cert: Path, key: Path, client_ca: Path) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(client_ca))
        self._context.load_cert_chain(str(cert), str(key))
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._context.set_alpn_protocols(["h2"])  # gRPC clients refuse a server that does not speak HTTP/2
        self.port = free_port()
        self.accepted: list[str] = []
        self.refused: list[str] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"localhost:{self.port}"

    async def __aenter__(self) -> MutualTlsProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                await writer.start_tls(self._context)
            except (ssl.SSLError, ConnectionError, OSError) as err:
                self.refused.append(str(err))
                return
            subject = dict(pair[0] for pair in writer.get_extra_info("peercert")["subject"])
            self.accepted.append(subject["commonName"])
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True)
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    finally:
        with contextlib.suppress(Exception):
            sink.close()
