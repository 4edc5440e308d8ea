"""`python -m cadenza.web_ui_guard --port 8233 --upstream-port N`: the dev server's Web UI, behind a Host check.

Temporal's dev server serves its Web UI to any `Host`, and it has no setting to refuse one (the UI server's config
knows CORS origins, not host names). A web page that re-points its own domain at 127.0.0.1 would then be the UI's own
origin: it could list orders, read their (encrypted) histories and search attributes, and cancel or terminate them —
the UI's CSRF cookie is readable to a same-origin page. `cadenza up` therefore runs the UI on a private loopback port
and this proxy on the UI's port: a request whose Host is not localhost or an address is refused (421,
cadenza.trusted_hosts) before it reaches Temporal's UI; every other request is passed through unchanged, streamed both
ways.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import httpx
from starlette.types import Message, Receive, Scope, Send

from cadenza.process_exit import run_and_exit
from cadenza.trusted_hosts import TrustedHosts

# Connection-level headers describe one hop; the proxy's own connections carry their own.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)


class WebUiProxy:
    """Passes each HTTP request to the Web UI at `upstream` and its answer back, as it is (Host included)."""

    def __init__(self, upstream: str, transport: httpx.AsyncBaseTransport | None = None) -> None:
        # No read timeout: a workflow list or a long history may take its time; the browser gives up if it must.
        self._client = httpx.AsyncClient(
            base_url=upstream, timeout=httpx.Timeout(None, connect=5.0), transport=transport
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # the Web UI uses plain HTTP only (lifespan and websockets need nothing here)
        target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        request = self._client.build_request(
            scope["method"],
            target.decode("latin-1"),
            headers=_forwarded(scope["headers"]),
            content=_body(receive),
        )
        try:
            answer = await self._client.send(request, stream=True)
        except httpx.HTTPError as err:
            await _plain(
                send,
                502,
                f"The Temporal Web UI behind this port does not answer ({type(err).__name__}); "
                "is the dev server running? `cadenza up` starts both.",
            )
            return
        try:
            await send(
                {"type": "http.response.start", "status": answer.status_code, "headers": _forwarded(answer.headers.raw)}
            )
            async for chunk in answer.aiter_raw():  # raw: compressed bodies stay compressed, as their headers say
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await answer.aclose()


def create_guard_app(upstream_port: int) -> TrustedHosts:
    return TrustedHosts(
        WebUiProxy(f"http://127.0.0.1:{upstream_port}"),
        names=(),
        next_step="Open the Web UI as http://localhost:<port> or http://127.0.0.1:<port>.",
    )


def _forwarded(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] != "http.request":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def _plain(send: Send, status: int, text: str) -> None:
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m cadenza.web_ui_guard", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="Where the Web UI is opened (CADENZA_TEMPORAL_UI_PORT)")
    parser.add_argument("--upstream-port", type=int, required=True, help="Where the dev server serves it, on loopback")
    args = parser.parse_args()
    uvicorn.run(
        create_guard_app(args.upstream_port), host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    run_and_exit(main)
