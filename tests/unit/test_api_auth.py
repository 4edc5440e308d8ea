"""`api.auth.require`: the auth matrix, customer binding and the per-key rate limit, on a tiny app with one route
per scope, over ASGI. Every refusal must be an RFC 9457 problem document."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from api.auth import SCOPES, Principal, client_address, require, still_valid
from api.ratelimit import RateLimit, RateLimiter
from cadenza.problems import PROBLEM_JSON, Problem, install_problem_handlers
from clients.api_keys import KeyStore, KeyStoreSettings, load_key_store


def scope_path(scope: str) -> str:
    return "/" + scope.replace(":", "/")


def make_app(store: KeyStore, limiter: RateLimiter | Literal["unlimited"] | None = "unlimited") -> FastAPI:
    """`limiter=None` installs none at all; by default each app gets its own unlimited one (never one shared by
    every test)."""
    if limiter == "unlimited":
        limiter = RateLimiter(None)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.api_keys = store
    if limiter is not None:
        app.state.api_rate_limiter = limiter

    def add_route(scope: str) -> None:
        # A default, not Annotated: FastAPI resolves the (postponed) annotation in the module, where `scope` is unknown.
        async def route(principal: Principal = Depends(require(scope))) -> dict:  # noqa: B008
            return {"key_id": principal.key_id, "name": principal.name, "scopes": sorted(principal.scopes)}

        app.get(scope_path(scope))(route)

    for scope in SCOPES:
        add_route(scope)

    @app.get("/customers/{customer_id}/orders")
    async def orders_of(customer_id: str, principal: Annotated[Principal, Depends(require("orders:read"))]) -> dict:
        if not principal.may_see(customer_id):
            raise Problem(404, "Not found", f"No orders of customer {customer_id!r}.")
        return {"customer_id": customer_id}

    @app.get("/read-and-write")
    async def both(
        reader: Annotated[Principal, Depends(require("orders:read"))],
        writer: Annotated[Principal, Depends(require("orders:write"))],
    ) -> dict:
        return {"same": reader is writer}

    return app


@pytest.fixture
def store(tmp_path: Path) -> KeyStore:
    return load_key_store(KeyStoreSettings(state_dir=tmp_path), reload_interval=0.0)


def client(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 4711)), base_url="http://api")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({}, "Send an API key as 'Authorization: Bearer <key>'"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "must be 'Bearer <key>'"),
        ({"Authorization": "Bearer"}, "must be 'Bearer <key>'"),
        (bearer("hello"), "not known"),
        (bearer("cdz_" + "A" * 43), "not known"),
    ],
    ids=["no key", "other scheme", "empty bearer", "not a cadenza key", "unknown key"],
)
async def test_no_usable_key_is_401_with_a_bearer_challenge(store, headers, says):
    store.create(name="someone", scopes=list(SCOPES))
    async with client(make_app(store)) as api:
        response = await api.get("/orders/read", headers=headers)
    body = assert_problem(response, 401)
    assert says in body["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("scope", SCOPES)
async def test_each_scope_opens_its_routes_and_no_other(store, scope):
    key, entry = store.create(name="one-scope", scopes=[scope])
    async with client(make_app(store)) as api:
        for other in SCOPES:
            response = await api.get(scope_path(other), headers=bearer(key))
            if other == scope:
                assert response.status_code == 200, response.text
                assert response.json() == {"key_id": entry.key_id, "name": "one-scope", "scopes": [scope]}
            else:
                body = assert_problem(response, 403)
                assert body["required_scope"] == other and f"needs the scope {other}" in body["detail"]
                assert f"--scope {other}" in body["detail"]
                assert response.headers["www-authenticate"] == f'Bearer error="insufficient_scope", scope="{other}"'


async def test_a_revoked_key_is_refused_at_once_without_a_restart(store, tmp_path):
    key, entry = store.create(name="checkout", scopes=["orders:read"])
    async with client(make_app(store)) as api:
        assert (await api.get("/orders/read", headers=bearer(key))).status_code == 200
        load_key_store(KeyStoreSettings(state_dir=tmp_path)).revoke(entry.key_id)  # as `cadenza api-key revoke` does
        response = await api.get("/orders/read", headers=bearer(key))
    body = assert_problem(response, 401)
    assert f"API key {entry.key_id} was revoked" in body["detail"]


async def test_a_customer_bound_key_sees_only_its_customer(store):
    bound, _ = store.create(name="c17-portal", scopes=["orders:read"], customer_id="c-17")
    unbound, _ = store.create(name="back-office", scopes=["orders:read"])
    async with client(make_app(store)) as api:
        assert (await api.get("/customers/c-17/orders", headers=bearer(bound))).status_code == 200
        assert_problem(await api.get("/customers/c-99/orders", headers=bearer(bound)), 404)
        for customer in ("c-17", "c-99"):
            assert (await api.get(f"/customers/{customer}/orders", headers=bearer(unbound))).status_code == 200


def test_may_see():
    bound = Principal(name="p", key_id="k", scopes=frozenset(), customer_id="c-17")
    assert bound.may_see("c-17") and not bound.may_see("c-1") and not bound.may_see("c-170")
    assert Principal(name="p", key_id="k", scopes=frozenset()).may_see("anyone")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_over_the_rate_limit_is_429_with_retry_after_per_key(store):
    clock = FakeClock()
    limiter = RateLimiter(RateLimit(rate=0.5, burst=3), clock=clock)
    key, entry = store.create(name="busy", scopes=["orders:read"])
    other, _ = store.create(name="quiet", scopes=["orders:read"])
    async with client(make_app(store, limiter)) as api:
        for _ in range(3):
            assert (await api.get("/orders/read", headers=bearer(key))).status_code == 200
        refused = await api.get("/orders/read", headers=bearer(key))
        assert (await api.get("/orders/read", headers=bearer(other))).status_code == 200, "limits are per key"
        clock.now += 2.0
        assert (await api.get("/orders/read", headers=bearer(key))).status_code == 200
    body = assert_problem(refused, 429)
    assert refused.headers["retry-after"] == "2"
    assert entry.key_id in body["detail"] and "per API replica" in body["detail"]


async def test_the_limit_comes_from_the_environment_when_the_app_sets_none(store, monkeypatch):
    monkeypatch.setenv("CADENZA_API_RATE_LIMIT", "1/min")
    monkeypatch.delenv("CADENZA_API_RATE_BURST", raising=False)
    key, _ = store.create(name="slow", scopes=["orders:read"])
    async with client(make_app(store, limiter=None)) as api:
        assert (await api.get("/orders/read", headers=bearer(key))).status_code == 200
        refused = await api.get("/orders/read", headers=bearer(key))
    assert_problem(refused, 429)
    assert refused.headers["retry-after"] == "60"


async def test_requests_without_a_usable_key_are_limited_per_client_address(store):
    clock = FakeClock()
    key, _ = store.create(name="good", scopes=["orders:read"])
    app = make_app(store)
    app.state.anonymous_rate_limiter = RateLimiter(RateLimit(rate=0.5, burst=2), clock=clock)
    async with client(app) as api, client(app, "10.0.0.2") as elsewhere:
        answers = [(await api.get("/orders/read", headers=h)).status_code for h in ({}, bearer("cdz_" + "A" * 43))]
        refused = await api.get("/orders/read")
        assert (await api.get("/orders/read", headers=bearer(key))).status_code == 200, "a usable key is not charged"
        assert (await elsewhere.get("/orders/read")).status_code == 401, "each address has its own bucket"
        clock.now += 2.0
        assert (await api.get("/orders/read")).status_code == 401
    assert answers == [401, 401]
    body = assert_problem(refused, 429)
    assert refused.headers["retry-after"] == "2" and "127.0.0.1" in body["detail"] and "valid key" in body["detail"]


@pytest.mark.parametrize(
    ("host", "charged_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),  # one host's usual share of IPv6: charged together
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
    ],
)
async def test_an_address_is_charged_as_one_host(store, host, charged_as):
    app = make_app(store)
    seen = []

    @app.get("/whoami")
    async def whoami(request: Request) -> dict:
        seen.append(client_address(request))
        return {}

    async with client(app, host) as api:
        await api.get("/whoami")
    assert seen == [charged_as]


async def test_a_key_is_still_valid_until_it_is_revoked(store):
    _, entry = store.create(name="streamer", scopes=["orders:read"])
    app = make_app(store)
    principal = Principal.of(entry)
    assert still_valid(app, principal)
    store.revoke(entry.key_id)
    assert not still_valid(app, principal)


async def test_a_request_is_authenticated_and_charged_once_however_many_scopes_it_needs(store):
    limiter = RateLimiter(RateLimit(rate=0.001, burst=2), clock=FakeClock())
    both, _ = store.create(name="both", scopes=["orders:read", "orders:write"])
    async with client(make_app(store, limiter)) as api:
        first = await api.get("/read-and-write", headers=bearer(both))
        second = await api.get("/read-and-write", headers=bearer(both))
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == {"same": True}


async def test_openapi_declares_the_bearer_scheme_on_protected_routes(store):
    async with client(make_app(store)) as api:
        document = (await api.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "cadenza api-key create" in scheme["description"]
    assert document["paths"]["/orders/write"]["get"]["security"] == [{"ApiKey": []}]


def test_an_unknown_scope_in_code_fails_at_import_not_at_request_time():
    with pytest.raises(ValueError, match="orders:write, orders:read, orders:operate, orders:review"):
        require("orders:delete")
