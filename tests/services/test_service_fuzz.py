"""Property test: no junk a caller can send to a POST endpoint makes a service answer 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.services.service_helpers import (
    AUTH,
    SERVICE_FACTORIES,
    TOKEN,
    charge_body,
    client_for,
    order_body,
    reservation_body,
)


@dataclass(frozen=True)
class Target:
    """One POST endpoint: its service, a path template and a valid body to mutate."""

    service: str
    path: str
    valid_body: dict[str, Any] | None


TARGETS = [
    Target("erp", "/orders", order_body("fuzz-order")),
    Target("erp", "/orders/{id}/confirm", None),
    Target("erp", "/orders/{id}/cancel", None),
    Target("payment", "/charges", charge_body("fuzz-order")),
    Target("payment", "/charges/{id}/refunds", {"amount": 1}),
    Target("inventory", "/reservations", reservation_body("fuzz-order")),
    Target("inventory", "/reservations/{id}/commit", None),
    Target("inventory", "/reservations/{id}/release", None),
]

# Every code point, lone surrogates included: json.dumps escapes them and the
# server's json.loads turns them back into strings SQLite cannot encode.
any_text = st.text(st.characters(exclude_categories=()), max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=10,
)


@st.composite
def near_valid_bodies(draw: st.DrawFn, valid_body: dict[str, Any] | None) -> Any:
    """A valid body with one field replaced, removed or added: reaches deeper than pure junk."""
    body = dict(valid_body or {})
    field = draw(st.sampled_from([*body, "unexpected"]))
    if draw(st.booleans()) and field in body:
        del body[field]
    else:
        body[field] = draw(json_values)
    return body


@st.composite
def requests(draw: st.DrawFn) -> tuple[Target, str, bytes, dict[str, Any]]:
    target = draw(st.sampled_from(TARGETS))
    path_id = draw(st.sampled_from(["existing"]) | any_text.filter(bool))
    body = draw(
        st.one_of(
            near_valid_bodies(target.valid_body).map(lambda value: json.dumps(value).encode()),
            json_values.map(lambda value: json.dumps(value).encode()),
            st.binary(max_size=64),
        )
    )
    headers: dict[str, Any] = {}
    authorization = draw(
        st.sampled_from([AUTH["Authorization"]] * 3 + [None, "Bearer", f"Basic {TOKEN}", "Bearer \x7f"])
    )
    if authorization is not None:
        headers["Authorization"] = authorization
    content_type = draw(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=latin-1",
                "text/plain",
                "application/x-www-form-urlencoded",
                "multipart/form-data; boundary=x",
                "application/problem+json",
                "application/",
                ";;",
                None,
            ]
        )
    )
    if content_type is not None:
        headers["Content-Type"] = content_type
    header_bytes = st.binary(min_size=0, max_size=300).filter(lambda value: b"\r" not in value and b"\n" not in value)
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(header_bytes)
    if draw(st.booleans()):
        headers["X-Junk"] = draw(header_bytes)
    return target, quote(path_id, safe="", errors="surrogatepass"), body, headers


@pytest.fixture(scope="module")
async def fuzz_clients(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One client per service, with an existing order, charge and reservation to aim path ids at."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    clients = {name: client_for(factory(folder / f"{name}.db", TOKEN)) for name, factory in SERVICE_FACTORIES.items()}
    await clients["erp"].post("/orders", json=order_body("existing"))
    await clients["payment"].post("/charges", json=charge_body("existing"))
    await clients["inventory"].post("/reservations", json=reservation_body("existing"))
    yield clients
    for client in clients.values():
        await client.aclose()


@settings(max_examples=60, deadline=None)
@given(request=requests())
async def test_post_endpoints_never_answer_5xx(
    fuzz_clients: dict[str, httpx.AsyncClient], request: tuple[Target, str, bytes, dict[str, Any]]
) -> None:
    target, path_id, body, headers = request
    client = fuzz_clients[target.service]
    if path_id == "existing" and target.service != "erp":
        path_id = await _existing_id(client, target.service)

    response = await client.post(target.path.format(id=path_id), content=body, headers=headers)

    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


async def _existing_id(client: httpx.AsyncClient, service: str) -> str:
    listing, field = ("/charges", "charges") if service == "payment" else ("/reservations", "reservations")
    found: str = (await client.get(listing, params={"order_id": "existing"})).json()[field][0]["id"]
    return found
