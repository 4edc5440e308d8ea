"""DNS rebinding: a web page re-points its own domain at 127.0.0.1, and the browser then calls the loopback codec
server as that page's own origin (no CORS involved) with `Host: <the page's domain>`. The server answers only to
localhost, IP addresses and the names configured in CADENZA_CODEC_ALLOWED_HOSTS; before, it decrypted for any Host.
The server here is the one `cadenza codec-server` runs on loopback (default_codec, no authentication)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from codec_server import CodecServerSettings, create_codec_app, default_codec
from tests.codec_server.conftest import UI_ORIGINS, payloads_body

REBINDING_HOSTS = [
    "attacker.example",
    "attacker.example:8234",
    "localhost.attacker.example:8234",
    "127.0.0.1.nip.io:8234",
    "LOCALHOST.attacker.example",
]
OWN_NAMES = ["localhost:8234", "localhost", "127.0.0.1:8234", "[::1]:8234", "127.0.0.2", "192.0.2.7:8234"]


@pytest_asyncio.fixture(loop_scope="session")
async def loopback_server() -> AsyncIterator[httpx.AsyncClient]:
    app = create_codec_app(default_codec(), CodecServerSettings(origins=UI_ORIGINS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://localhost:8234") as client:
        yield client


async def sealed_marker(client: httpx.AsyncClient) -> tuple[str, dict]:
    marker = f"marker-{uuid.uuid4().hex}"
    encoded = await client.post("/encode", json=payloads_body(f'"{marker}"'.encode()))
    assert encoded.status_code == 200, encoded.text
    return marker, encoded.json()


@pytest.mark.parametrize("host", REBINDING_HOSTS)
async def test_a_rebinding_host_is_refused_and_nothing_is_decrypted(loopback_server, host):
    marker, sealed = await sealed_marker(loopback_server)
    answer = await loopback_server.post("/decode", json=sealed, headers={"Host": host})
    assert answer.status_code == 421, answer.text
    assert marker not in answer.text and base64.b64encode(marker.encode()).decode()[:20] not in answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert "CADENZA_CODEC_ALLOWED_HOSTS" in answer.json()["detail"]


@pytest.mark.parametrize("host", REBINDING_HOSTS[:2])
async def test_a_rebinding_host_cannot_encode_either_nor_get_a_preflight(loopback_server, host):
    assert (
        await loopback_server.post("/encode", json=payloads_body(b'"x"'), headers={"Host": host})
    ).status_code == 421
    preflight = await loopback_server.options(
        "/decode", headers={"Host": host, "Origin": f"http://{host}", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 421


@pytest.mark.parametrize("host", OWN_NAMES)
async def test_localhost_and_addresses_are_answered(loopback_server, host):
    marker, sealed = await sealed_marker(loopback_server)
    answer = await loopback_server.post("/decode", json=sealed, headers={"Host": host})
    assert answer.status_code == 200, answer.text
    assert base64.b64encode(f'"{marker}"'.encode()).decode() == answer.json()["payloads"][0]["data"]


async def test_configured_names_are_answered():
    settings = CodecServerSettings(origins=UI_ORIGINS, allowed_hosts=("codec.example.com",))
    app = create_codec_app(default_codec(), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="https://codec.example.com") as client:
        assert (await client.post("/decode", json=payloads_body(b'"x"'))).status_code == 200
        assert (
            await client.post("/decode", json=payloads_body(b'"x"'), headers={"Host": "other.example.com"})
        ).status_code == 421


async def test_health_answers_any_host(loopback_server):
    # Kubernetes probes send the pod's address or whatever they are given; /healthz reveals nothing.
    assert (await loopback_server.get("/healthz", headers={"Host": "attacker.example"})).status_code == 200
