"""Who may decode and encode: the auth matrix with JWTs from a local OIDC issuer and with static tokens. Decode needs
`<namespace>:read`, encode `<namespace>:write`, for the namespace named in X-Namespace."""

from __future__ import annotations

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cadenza.problems import PROBLEM_JSON
from codec_server import create_codec_app
from codec_server.access import InvalidAccessSettings, OidcSettings, StaticTokens
from codec_server.settings import CodecServerSettings
from tests.codec_server.conftest import (
    AUDIENCE,
    CODEC_URL,
    ISSUER,
    OTHER_NS_TOKEN,
    READ_ONLY_TOKEN,
    READ_WRITE_TOKEN,
    UI_ORIGINS,
    Issuer,
    payloads_body,
    test_codec,
)

BODY = payloads_body(b'"x"')


async def call(client, path: str, token: str | None, namespace: str | None = "default"):
    headers = {"Origin": UI_ORIGINS[0]}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if namespace is not None:
        headers["X-Namespace"] = namespace
    return await client.post(path, json=BODY, headers=headers)


# (how the token is made, path, expected status)
JWT_MATRIX = {
    "no token": (None, "/decode", 401),
    "garbage token": (lambda i: "not-a-jwt", "/decode", 401),
    "bad signature": (
        lambda i: i.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "/decode",
        401,
    ),
    "expired": (lambda i: i.token(expires_in=-120), "/decode", 401),
    "other audience": (lambda i: i.token(audience="someone-else"), "/decode", 401),
    "other issuer": (lambda i: i.token(issuer="https://elsewhere.test/"), "/decode", 401),
    "HS256 with a shared secret": (lambda i: _hs256(i), "/decode", 401),
    "unknown key id": (
        lambda i: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": 2**31}, i.key, algorithm="RS256", headers={"kid": "not-in-the-jwks"}
        ),
        "/decode",
        401,
    ),
    "other namespace": (lambda i: i.token(permissions=("other:read", "other:write")), "/decode", 403),
    "read-only on /encode": (lambda i: i.token(permissions=("default:read",)), "/encode", 403),
    "read-only on /decode": (lambda i: i.token(permissions=("default:read",)), "/decode", 200),
    "write-only on /decode": (lambda i: i.token(permissions=("default:write",)), "/decode", 403),
    "read-write on /encode": (lambda i: i.token(), "/encode", 200),
    "wildcard namespace": (lambda i: i.token(permissions=("*:read",)), "/decode", 200),
    "grants as a scope string": (lambda i: i.token(permissions="openid default:read"), "/decode", 200),
    "grants claim of the wrong type": (lambda i: i.token(permissions={"default": "read"}), "/decode", 403),
}


def _hs256(issuer: Issuer) -> str:
    # The classic confusion attack signs with HMAC; only asymmetric algorithms may ever pass.
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": 2**31, "permissions": ["default:read"]}
    return jwt.encode(claims, "a-shared-secret-of-32-bytes-long!", algorithm="HS256", headers={"kid": issuer.kid})


@pytest.mark.parametrize("make, path, status", JWT_MATRIX.values(), ids=JWT_MATRIX.keys())
async def test_jwt_matrix(guarded_client, issuer: Issuer, make, path, status):
    answer = await call(guarded_client, path, None if make is None else make(issuer))
    assert answer.status_code == status, answer.text
    if status != 200:
        assert answer.headers["content-type"] == PROBLEM_JSON
        # The Web UI can read the refusal (CORS headers on errors too) and a client knows how to authenticate.
        assert answer.headers["access-control-allow-origin"] == UI_ORIGINS[0]
        assert "bearer" in answer.headers["www-authenticate"].lower()


STATIC_MATRIX = {
    "unknown token": ("u" * 40, "/decode", "default", 401),
    "read-write on /encode": (READ_WRITE_TOKEN, "/encode", "default", 200),
    "read-write on /decode": (READ_WRITE_TOKEN, "/decode", "default", 200),
    "read-only on /encode": (READ_ONLY_TOKEN, "/encode", "default", 403),
    "read-only on /decode": (READ_ONLY_TOKEN, "/decode", "default", 200),
    "other namespace": (OTHER_NS_TOKEN, "/decode", "default", 403),
    "its own namespace": (OTHER_NS_TOKEN, "/decode", "other", 200),
    "no X-Namespace": (READ_WRITE_TOKEN, "/decode", None, 400),
}


@pytest.mark.parametrize("token, path, namespace, status", STATIC_MATRIX.values(), ids=STATIC_MATRIX.keys())
async def test_static_token_matrix(guarded_client, token, path, namespace, status):
    answer = await call(guarded_client, path, token, namespace)
    assert answer.status_code == status, answer.text


async def test_a_refusal_names_the_grant_needed_but_never_echoes_the_token(guarded_client):
    answer = await call(guarded_client, "/encode", READ_ONLY_TOKEN)
    assert "default:write" in answer.json()["detail"]
    assert READ_ONLY_TOKEN not in answer.text


async def test_without_auth_configured_no_token_is_needed(open_client):
    assert (await call(open_client, "/encode", None, None)).status_code == 200


async def test_an_unreachable_jwks_is_503_not_401(issuer: Issuer):
    settings = CodecServerSettings(
        origins=UI_ORIGINS,
        oidc=OidcSettings(
            issuer="https://issuer.test/", audience="cadenza-codec", jwks_url="http://127.0.0.1:9/jwks.json"
        ),
    )
    app = create_codec_app(test_codec(), settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=CODEC_URL) as client:
        answer = await call(client, "/decode", issuer.token())
    assert answer.status_code == 503 and answer.headers["retry-after"]


TOKEN_SPECS = {
    "short token": "short=default:read",
    "no grants": "t" * 20 + "=",
    "bad action": "t" * 20 + "=default:admin",
    "nothing": " ; ",
}


@pytest.mark.parametrize("spec", TOKEN_SPECS.values(), ids=TOKEN_SPECS.keys())
def test_unusable_static_tokens_are_refused_at_start_without_echoing_them(spec):
    with pytest.raises(InvalidAccessSettings) as refused:
        StaticTokens.parse(spec)
    assert "CADENZA_CODEC_TOKENS" in str(refused.value)
    assert "t" * 20 not in str(refused.value)


def test_oidc_settings_come_together_or_not_at_all():
    with pytest.raises(InvalidAccessSettings, match="CADENZA_CODEC_OIDC_JWKS_URL"):
        CodecServerSettings.from_environment(
            {"CADENZA_CODEC_OIDC_ISSUER": "https://i.test/", "CADENZA_CODEC_OIDC_AUDIENCE": "a"}
        )


def test_a_wildcard_origin_is_refused():
    with pytest.raises(InvalidAccessSettings, match=r"\*"):
        CodecServerSettings.from_environment({"CADENZA_CODEC_CORS_ORIGINS": "*"})


async def test_each_call_is_in_the_access_log_with_its_caller_but_never_its_token(guarded_client, caplog):
    caplog.set_level("INFO", logger="cadenza.api")
    answer = await call(guarded_client, "/decode", READ_WRITE_TOKEN)
    assert answer.status_code == 200
    line = next(record for record in caplog.records if getattr(record, "access", False))
    assert (line.method, line.route, line.status) == ("POST", "/decode", 200)  # type: ignore[attr-defined]
    assert line.request_id == answer.headers["x-request-id"]  # type: ignore[attr-defined]
    assert line.caller.startswith("token sha256:")  # type: ignore[attr-defined]
    assert READ_WRITE_TOKEN not in caplog.text
