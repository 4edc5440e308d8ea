"""Who may decode and encode which namespace's payloads.

A caller holds grants `<namespace>:read` (may decode) and `<namespace>:write` (may encode); `*` as the namespace
means every namespace. Neither implies the other. The grants come from one of two places:

- **Static tokens** (`CADENZA_CODEC_TOKENS`, small setups): `token=default:read,default:write;other-token=*:read`.
  Only their SHA-256 is kept in memory; a token is at least 16 characters.
- **An OIDC issuer's JWTs** (`CADENZA_CODEC_OIDC_ISSUER`, `…_AUDIENCE`, `…_JWKS_URL`): RS/PS/ES/EdDSA-signed,
  checked against the issuer's JWKS (cached, re-fetched for an unknown `kid`), with `exp`, `iss` and `aud` required.
  The grants are the claim `permissions` (`CADENZA_CODEC_OIDC_PERMISSIONS_CLAIM`): a list of grant strings, or one
  space-separated string as in an OAuth `scope`. Other claims are ignored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import anyio.to_thread
import jwt

from cadenza.errors import CadenzaError, InvalidInput

Action = Literal["read", "write"]
MIN_TOKEN_LENGTH = 16
# Asymmetric algorithms only: an HS256 token "signed" with the public key, or `none`, must never pass.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
_GRANT = re.compile(r"[^\s:;,=]+:(read|write)")


class InvalidAccessSettings(InvalidInput, ValueError):
    """CADENZA_CODEC_TOKENS or the OIDC settings cannot be used; the message says which and how to fix it."""


class Unauthenticated(CadenzaError):
    """No usable credentials (401); the message says why, never echoing the token."""


class AuthUnavailable(CadenzaError):
    """The issuer's JWKS could not be fetched (503): not the caller's fault."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller and what it may do."""

    name: str
    """Who it is, for logs and refusals: a JWT's `sub`, or a static token's hash prefix (never the token)."""
    grants: frozenset[str]

    def may(self, action: Action, namespace: str) -> bool:
        return f"{namespace}:{action}" in self.grants or f"*:{action}" in self.grants


class StaticTokens:
    """Bearer tokens configured up front, each with its grants."""

    def __init__(self, tokens: dict[str, frozenset[str]]) -> None:
        self._callers = {
            digest: Caller(f"token sha256:{digest[:8]}", grants)
            for digest, grants in ((_digest(token), grants) for token, grants in tokens.items())
        }

    @classmethod
    def parse(cls, spec: str) -> StaticTokens:
        """`token=ns:read,ns:write;token2=*:read` → tokens; `InvalidAccessSettings` names the bad entry by position."""
        tokens: dict[str, frozenset[str]] = {}
        for position, entry in enumerate((part.strip() for part in spec.split(";")), start=1):
            if not entry:
                continue
            token, _, grants = entry.partition("=")
            where = f"CADENZA_CODEC_TOKENS entry {position}"
            if len(token.strip()) < MIN_TOKEN_LENGTH:
                raise InvalidAccessSettings(
                    f'{where}: the token must be at least {MIN_TOKEN_LENGTH} characters (e.g. `python -c "import '
                    'secrets; print(secrets.token_urlsafe(32))"`), followed by =<namespace>:read,<namespace>:write'
                )
            tokens[token.strip()] = parse_grants(grants.split(","), where)
        if not tokens:
            raise InvalidAccessSettings("CADENZA_CODEC_TOKENS is set but names no token; unset it or add token=ns:read")
        return cls(tokens)

    def caller(self, token: str) -> Caller | None:
        # Looked up by digest: comparing hashes leaks nothing usable about any token's characters through timing.
        return self._callers.get(_digest(token))


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str
    permissions_claim: str = "permissions"
    leeway_seconds: int = 30


class OidcVerifier:
    """Checks a JWT's signature against the issuer's JWKS and its `exp`, `iss` and `aud`; reads its grants."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    async def caller(self, token: str) -> Caller:
        # PyJWKClient fetches with blocking urllib (only on a cache miss): keep it off the event loop.
        return await anyio.to_thread.run_sync(self._verify, token)

    def _verify(self, token: str) -> Caller:
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as err:
            raise AuthUnavailable(f"cannot fetch the issuer's keys from {self.settings.jwks_url}: {err}") from None
        except jwt.PyJWTError as err:
            raise Unauthenticated(f"the bearer token is not a usable JWT: {err}") from None
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired; sign in again for a fresh one") from None
        except jwt.PyJWTError as err:
            raise Unauthenticated(f"the token was refused: {err}") from None
        raw = claims.get(self.settings.permissions_claim, [])
        grants = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        valid = frozenset(grant for grant in grants if isinstance(grant, str) and _GRANT.fullmatch(grant))
        return Caller(str(claims.get("sub", "unnamed subject")), valid)


class Authenticator:
    """Static tokens first (a dictionary lookup), then the OIDC issuer if one is configured."""

    def __init__(self, tokens: StaticTokens | None, oidc: OidcVerifier | None) -> None:
        if tokens is None and oidc is None:
            raise ValueError("an Authenticator needs static tokens, an OIDC issuer, or both")
        self._tokens, self._oidc = tokens, oidc

    async def caller(self, token: str) -> Caller:
        known = self._tokens.caller(token) if self._tokens is not None else None
        if known is not None:
            return known
        if self._oidc is not None:
            return await self._oidc.caller(token)
        raise Unauthenticated("this token is not one of CADENZA_CODEC_TOKENS")


def parse_grants(grants: Iterable[str], where: str) -> frozenset[str]:
    parsed = frozenset(grant.strip() for grant in grants if grant.strip())
    bad = sorted(grant for grant in parsed if not _GRANT.fullmatch(grant))
    if bad or not parsed:
        raise InvalidAccessSettings(
            f"{where}: grants must be <namespace>:read or <namespace>:write (namespace * for all), comma-separated; "
            f"got {', '.join(bad) if bad else 'none'}"
        )
    return parsed


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
