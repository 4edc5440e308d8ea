"""The Order API's document states the order's rules (api/openapi.py): every order drawn from it as schemathesis
draws them is one the API's `Order` takes, and the rules refuse what the model refuses."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.jsonschema.builder import build

from api.openapi import printable_not_blank, state_the_rules
from api.orders import router
from workflows.models import MAX_AMOUNT, Order

SKUS = frozenset({"SKU-BOOK", "SKU-MUG", "SKU-PEN"})


def _document(skus: frozenset[str] | None) -> dict[str, Any]:
    app = FastAPI()
    app.include_router(router)
    state_the_rules(app, lambda: skus)
    return app.openapi()


def _order_schema(document: dict[str, Any]) -> dict[str, Any]:
    """The Order schema alone, its references resolved within it (as a validator sees it)."""
    schemas = document["components"]["schemas"]
    text = repr(schemas["Order"])
    for name in ("OrderLine", "ShippingAddress"):
        text = text.replace(repr({"$ref": f"#/components/schemas/{name}"}), repr(schemas[name]))
    return eval(text)


ORDER_SCHEMA = _order_schema(_document(SKUS))


def _within_the_total(order: dict[str, Any]) -> dict[str, Any]:
    """The rule stated in words only: scale the prices down, as tests/integration/test_order_api.py's client does."""
    total = sum(line["quantity"] * line["unit_price"] for line in order["lines"])
    if total > MAX_AMOUNT:
        for line in order["lines"]:
            line["unit_price"] //= -(-total // MAX_AMOUNT)
        if not any(line["unit_price"] for line in order["lines"]):
            order["lines"][0]["unit_price"] = 1
    return order


@settings(max_examples=300, suppress_health_check=list(HealthCheck), database=None, deadline=None)
@given(build(ORDER_SCHEMA, draft=jsonschema_rs.Draft202012, formats={}))
def test_every_order_the_document_allows_is_one_the_api_takes(order):
    placed = Order.model_validate(_within_the_total(order))
    assert {line.sku for line in placed.lines} <= SKUS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "XXX"),
        ("payment_token", "4242 4242 4242 4242"),
        ("payment_token", "tok_"),
        ("customer_name", "   "),
    ],
)
def test_what_the_model_refuses_the_document_refuses(field, value):
    order = {
        "order_id": "ord-1",
        "customer_id": "c-1",
        "currency": "EUR",
        "payment_token": "tok_visa",
        "lines": [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 5}],
        field: value,
    }
    assert not jsonschema_rs.validator_for(ORDER_SCHEMA).is_valid(order)
    with pytest.raises(ValueError):
        Order.model_validate(order)


def test_lines_state_a_price_and_one_line_per_stocked_sku():
    validator = jsonschema_rs.validator_for(ORDER_SCHEMA)
    base = {"order_id": "ord-1", "customer_id": "c-1", "currency": "EUR", "payment_token": "tok_visa"}
    free = [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 0}]
    twice = [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 5}] * 2
    unknown = [{"sku": "SKU-NOPE", "quantity": 1, "unit_price": 5}]
    assert not any(validator.is_valid({**base, "lines": lines}) for lines in (free, twice, unknown))
    unknown_catalogue = _order_schema(_document(None))["properties"]["lines"]
    assert "enum" not in repr(unknown_catalogue)  # while the inventory cannot be asked, no SKU is refused either


NAMES = jsonschema_rs.validator_for({"type": "string", "pattern": printable_not_blank()})


@settings(max_examples=2000, database=None)
@given(st.text(max_size=12))
def test_the_name_pattern_is_the_models_rule(name):
    assert NAMES.is_valid(name) == (name.isprintable() and bool(name.strip()))
