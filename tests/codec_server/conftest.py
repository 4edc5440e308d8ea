"""The codec server in-process over ASGI, with Cadenza's codec under a fresh key for namespace `default`, and a local
OIDC issuer: an RSA key of its own whose JWKS is served over loopback HTTP, so the real PyJWKClient path is exercised
without any network. Clients call it as `localhost`, as a browser on the same machine does."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from cadenza.codec import EncryptionCodec, KeyRing
from codec_server import CodecServerSettings, create_codec_app
from codec_server.access import OidcSettings, StaticTokens

UI_ORIGINS = ("http://localhost:8233", "http://127.0.0.1:8233")
ISSUER = "https://issuer.test/"
AUDIENCE = "cadenza-codec"
# Static tokens: one may read and write `default`, one may only read it, one may read only `other`.
READ_WRITE_TOKEN = "rw-" + "a" * 30
READ_ONLY_TOKEN = "ro-" + "b" * 30
OTHER_NS_TOKEN = "other-" + "c" * 30
STATIC_TOKENS = (
    f"{READ_WRITE_TOKEN}=default:read,default:write;{READ_ONLY_TOKEN}=default:read;"
    f"{OTHER_NS_TOKEN}=other:read,other:write"
)


def payloads_body(*data: bytes) -> dict:
    """A request body with one `json/plain` payload per item of `data`."""
    return {
        "payloads": [
            {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": base64.b64encode(d).decode()}
            for d in data
        ]
    }


@dataclass
class Issuer:
    """Mints JWTs signed with its own RSA key; its JWKS lives at `jwks_url`."""

    key: rsa.RSAPrivateKey
    kid: str
    jwks_url: str

    def token(
        self,
        *,
        permissions: object = ("default:read", "default:write"),
        expires_in: float = 300,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        key: rsa.RSAPrivateKey | None = None,
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": "alice",
            "iat": now,
            "exp": now + int(expires_in),
            "permissions": list(permissions) if isinstance(permissions, tuple) else permissions,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})

    def settings(self) -> OidcSettings:
        return OidcSettings(issuer=ISSUER, audience=AUDIENCE, jwks_url=self.jwks_url)


@pytest.fixture(scope="session")
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Issuer(key, kid, f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json")
    finally:
        server.shutdown()


CODEC_URL = "http://localhost:8234"


def test_codec(namespace: str = "default") -> EncryptionCodec:
    """Cadenza's codec with a key of its own, as a server whose own namespace is `namespace`."""
    return EncryptionCodec(KeyRing.parse(KeyRing.generate_line("test-key"), source="test"), namespace=namespace)


test_codec.__test__ = False  # type: ignore[attr-defined] - a helper, not a test


def open_app(codec: EncryptionCodec | None = None) -> FastAPI:
    """As on a developer's machine: loopback, no authentication."""
    return create_codec_app(codec or test_codec(), CodecServerSettings(origins=UI_ORIGINS))


def guarded_app(issuer: Issuer, codec: EncryptionCodec | None = None) -> FastAPI:
    """As deployed: static tokens and the OIDC issuer both accepted."""
    settings = CodecServerSettings(origins=UI_ORIGINS, tokens=StaticTokens.parse(STATIC_TOKENS), oidc=issuer.settings())
    return create_codec_app(codec or test_codec(), settings)


@pytest_asyncio.fixture(loop_scope="session")
async def open_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(open_app()), base_url=CODEC_URL) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="session")
async def guarded_client(issuer: Issuer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(guarded_app(issuer)), base_url=CODEC_URL) as client:
        yield client
