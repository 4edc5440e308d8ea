"""Refusing requests addressed to a name this server does not go by: the defence against DNS rebinding.

A web page can make its own domain resolve to 127.0.0.1 (or any address inside the network); the browser then treats a
server listening there as that page's own origin, so CORS never applies and the page reads every answer. What the
browser cannot change is the `Host` header: it carries the page's domain. A server that answers only to its own names
gives such a page nothing. Allowed without configuration, because no page can use them that way:

- `localhost`: browsers resolve it to loopback themselves, whatever DNS says;
- IP addresses: rebinding needs a name to re-point, and a page served from a bare address is cross-origin to this
  server, so CORS (the codec server's origin allow-list) decides;

every other name must be configured.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAME = "localhost"


def host_name(host_header: str) -> str:
    """The name or address of a `Host` header value, lower-cased, without port and IPv6 brackets."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    name, _, port = value.rpartition(":")
    return name if name and port.isdigit() else value


def is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class TrustedHosts:
    """ASGI middleware: a request whose `Host` is not `localhost`, an IP address or one of `names` is answered 421
    (a problem document ending with `next_step`) before it reaches the app; `open_paths` (health checks, which probes
    send with whatever Host they like, and which reveal nothing) are exempt."""

    def __init__(self, app: ASGIApp, *, names: Iterable[str], next_step: str, open_paths: Iterable[str] = ()) -> None:
        self._app = app
        self._names = frozenset(name.lower() for name in names) | {LOOPBACK_NAME}
        self._next_step = next_step
        self._open_paths = frozenset(open_paths)

    def allows(self, host_header: str) -> bool:
        name = host_name(host_header)
        return name in self._names or is_ip_address(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open_paths:
            await self._app(scope, receive, send)
            return
        host = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"host"), "")
        if self.allows(host):
            await self._app(scope, receive, send)
            return
        await self._refuse(host, send)

    async def _refuse(self, host: str, send: Send) -> None:
        problem = {
            "type": "about:blank",
            "title": "Not a name of this server",
            "status": 421,
            "detail": f"This server does not answer to the host name {host_name(host)[:100]!r} (a page re-pointing its "
            f"own domain here, or a name not configured yet). {self._next_step}",
        }
        body = json.dumps(problem).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 421, "headers": headers})
        await send({"type": "http.response.body", "body": body})
