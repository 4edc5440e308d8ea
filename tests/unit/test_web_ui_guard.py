"""The proxy `cadenza up` puts in front of the dev server's Web UI (cadenza.web_ui_guard): a rebinding Host never
reaches the UI; everything else goes through as the browser sent it and comes back as the UI answered — the UI's
write actions (POST with its CSRF cookie and header) included."""

from __future__ import annotations

import httpx
import pytest

from cadenza.trusted_hosts import TrustedHosts
from cadenza.web_ui_guard import WebUiProxy

seen: list[httpx.Request] = []


class _Streamed(httpx.AsyncByteStream):
    """An answer arriving over the network (httpx reads a `content=` body at once, which no real server does)."""

    def __init__(self, *chunks: bytes) -> None:
        self._chunks = chunks

    async def __aiter__(self):
        for chunk in self._chunks:
            yield chunk


def _web_ui(request: httpx.Request) -> httpx.Response:
    seen.append(request)
    return httpx.Response(
        200,
        stream=_Streamed(b'{"echo": ', request.content or b'""', b"}"),
        headers=[
            ("content-type", "application/json"),
            ("set-cookie", "_csrf=abc; Path=/"),
            ("set-cookie", "other=1; Path=/"),
            ("connection", "close"),
        ],
    )


def _guard(upstream: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    app = TrustedHosts(WebUiProxy("http://ui.internal", transport=upstream), names=(), next_step="Use localhost.")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://localhost:8233")


@pytest.fixture(autouse=True)
def forget_requests():
    seen.clear()


async def test_a_write_action_goes_through_with_its_csrf_cookie_and_header():
    async with _guard(httpx.MockTransport(_web_ui)) as browser:
        answer = await browser.post(
            "/api/v1/namespaces/default/workflows/order-1/cancel?reason=x",
            content=b'{"a": 1}',
            headers={"X-CSRF-TOKEN": "abc", "Cookie": "_csrf=abc", "Content-Type": "application/json"},
        )
    assert answer.status_code == 200 and answer.json() == {"echo": {"a": 1}}
    assert answer.headers.get_list("set-cookie") == ["_csrf=abc; Path=/", "other=1; Path=/"]
    assert "connection" not in answer.headers  # hop-by-hop: about the UI's connection to the proxy, not the browser's
    [request] = seen
    assert request.method == "POST" and request.url.path == "/api/v1/namespaces/default/workflows/order-1/cancel"
    assert request.url.query == b"reason=x" and request.content == b'{"a": 1}'
    assert request.headers["x-csrf-token"] == "abc" and request.headers["cookie"] == "_csrf=abc"
    assert request.headers["host"] == "localhost:8233"  # the UI sees the name the browser used


async def test_a_rebinding_host_never_reaches_the_web_ui():
    async with _guard(httpx.MockTransport(_web_ui)) as browser:
        answer = await browser.get("/api/v1/namespaces/default/workflows", headers={"Host": "attacker.example:8233"})
    assert answer.status_code == 421 and seen == []


async def test_a_web_ui_that_does_not_answer_is_a_502_saying_so():
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with _guard(httpx.MockTransport(down)) as browser:
        answer = await browser.get("/")
    assert answer.status_code == 502 and "cadenza up" in answer.text
