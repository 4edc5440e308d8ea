"""Who may do what: API keys with scopes, as a FastAPI dependency.

    @router.post("/orders")
    async def place(order: Order, principal: Annotated[Principal, Depends(require("orders:write"))]): ...

`require(scope)` reads `Authorization: Bearer <key>`, finds the key in the store on `app.state.api_keys`
(`clients.api_keys.load_key_store()`), charges the key's rate limit (`app.state.api_rate_limiter`, created from the
environment on first use if the app did not set one) and checks the scope. Every refusal is a problem document:
401 without a usable key, 429 over the rate limit, 403 without the scope. A request without a usable key is charged
to its client address instead (`app.state.anonymous_rate_limiter`): past that limit its answer is a 429, not a 401.
A key bound to a customer acts for that customer only: it places orders for it (`principal.may_see`), and the
routes find orders as that customer's (api/ownership.py), so anyone else's answers as an unknown one, 404.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.ratelimit import RateLimiter
from cadenza.problems import Problem
from clients.api_keys import SCOPES, ApiKey, KeyStore, looks_like_key

__all__ = ["SCOPES", "Principal", "require"]

_log = logging.getLogger("cadenza.api.auth")

# auto_error=False: the refusals below are problem documents with a reason, not FastAPI's bare 403. Being a security
# dependency, it also puts the bearer scheme (and the lock) into /openapi.json and /docs.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `cadenza api-key create`, sent as `Authorization: Bearer cdz_…`.",
)


@dataclass(frozen=True)
class Principal:
    """The caller, as its API key describes it."""

    name: str
    key_id: str
    """Public id of the key: log this, never the key."""
    scopes: frozenset[str]
    customer_id: str | None = None
    """Set when the key acts for one customer only."""

    def may_see(self, customer_id: str) -> bool:
        """May this caller see (or act on) an order of `customer_id`?"""
        return self.customer_id is None or self.customer_id == customer_id

    @classmethod
    def of(cls, key: ApiKey) -> Principal:
        return cls(name=key.name, key_id=key.key_id, scopes=frozenset(key.scopes), customer_id=key.customer_id)


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency answering the caller's Principal if its key is valid, within its rate and holds `scope`."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; the scopes are {', '.join(SCOPES)}")

    # async: it runs on the event loop, not in the thread pool, so the rate limiter needs no lock and costs no hop.
    async def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Principal:
        principal = _authenticated(request, credentials)
        if scope not in principal.scopes:
            held = ", ".join(sorted(principal.scopes)) or "none"
            raise Problem(
                403,
                "The API key lacks the scope this needs",
                f"This needs the scope {scope}; key {principal.key_id} has {held}. "
                f"Ask for a key with it: cadenza api-key create --scope {scope}",
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
                required_scope=scope,
            )
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def _authenticated(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    # One request is authenticated and charged once, however many dependencies ask; middleware can log the key id.
    known = getattr(request.state, "principal", None)
    if isinstance(known, Principal):
        return known
    if credentials is None:
        raise _unauthorized(
            request,
            "Send an API key as 'Authorization: Bearer <key>'."
            if "authorization" not in request.headers
            else "The Authorization header must be 'Bearer <key>'.",
        )
    key = credentials.credentials
    entry = _store(request.app).authenticate(key) if looks_like_key(key) else None
    if entry is None:
        raise _unauthorized(
            request, "This API key is not known. Check it (keys start with cdz_), or ask for a new one."
        )
    if entry.revoked:
        _log.info("refused revoked API key %s (%s)", entry.key_id, entry.name)
        raise _unauthorized(
            request, f"API key {entry.key_id} was revoked on {entry.revoked_at:%Y-%m-%d %H:%M} UTC; ask for a new one."
        )
    principal = Principal.of(entry)
    limiter = _limiter(request.app)
    if wait := limiter.acquire(principal.key_id):
        raise _too_many(wait, f"API key {principal.key_id} is over its rate limit of {limiter.limit} per API replica")
    request.state.principal = principal
    request.state.caller = f"key {principal.name} ({principal.key_id})"  # for the access log (cadenza.http_middleware)
    return principal


def _unauthorized(request: Request, detail: str) -> Problem:
    """The 401 — or, for an address over its limit of requests without a usable key, the 429."""
    limiter = _anonymous_limiter(request.app)
    address = client_address(request)
    if wait := limiter.acquire(address):
        return _too_many(
            wait,
            f"{address} sent more requests without a usable API key than the {limiter.limit} allowed per API "
            "replica. Send a valid key (keys start with cdz_)",
        )
    return Problem(401, "Missing or unknown API key", detail, headers={"WWW-Authenticate": "Bearer"})


def _too_many(wait: float, why: str) -> Problem:
    retry_after = max(1, math.ceil(wait))
    return Problem(
        429, "Too many requests", f"{why}; retry in {retry_after} s.", headers={"Retry-After": str(retry_after)}
    )


def client_address(request: Request) -> str:
    """Whom to charge a request without a key to: its address (as uvicorn gives it, after any trusted proxy header),
    IPv6 per /64."""
    host = request.client.host if request.client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _store(app: FastAPI) -> KeyStore:
    store = getattr(app.state, "api_keys", None)
    if not isinstance(store, KeyStore):
        raise RuntimeError(
            "app.state.api_keys is not set: set it to clients.api_keys.load_key_store() when the app starts"
        )
    return store


def _limiter(app: FastAPI) -> RateLimiter:
    limiter = getattr(app.state, "api_rate_limiter", None)
    if limiter is None:
        limiter = app.state.api_rate_limiter = RateLimiter.from_environment()
    return limiter


def _anonymous_limiter(app: FastAPI) -> RateLimiter:
    limiter = getattr(app.state, "anonymous_rate_limiter", None)
    if limiter is None:
        limiter = app.state.anonymous_rate_limiter = RateLimiter.for_addresses_from_environment()
    return limiter


def still_valid(app: FastAPI, principal: Principal) -> bool:
    """Whether `principal`'s key still works (not revoked, still in the store): asked by requests that outlive their
    authentication, so a revoked key's event streams end within the store's reload interval."""
    return _store(app).is_active(principal.key_id)
