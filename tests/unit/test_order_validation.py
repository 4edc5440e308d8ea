"""Bad input gets a clear error naming the field, and nothing else: the order model as the CLI parses it."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clients.orders import InvalidOrder, parse_order

VALID = {
    "order_id": "ord-1",
    "customer_id": "c-1",
    "currency": "EUR",
    "payment_token": "tok_visa",
    "lines": [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 100}],
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*VALID, "extra"]), json_values, max_size=7))
def test_any_json_is_either_an_order_or_a_clear_refusal(document):
    try:
        parse_order(json.dumps(document))
    except InvalidOrder as err:
        assert "is not a valid order" in str(err) and "  - " in str(err)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_are_either_an_order_or_a_clear_refusal(raw):
    with contextlib.suppress(InvalidOrder):
        parse_order(raw)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "eur"}, "currency"),
        ({"currency": "XXX"}, "currency"),
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": -1, "unit_price": 100}]}, "lines.0.quantity"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 1, "unit_price": 0}]}, "totals 0"),
        ({"lines": [{"sku": "SKU-BOOK", "quantity": 10_000, "unit_price": 10**12}]}, "above the limit"),
        ({"payment_token": "4111 1111 1111 1111"}, "looks like a card number"),
        ({"order_id": ""}, "order_id"),
        ({"order_id": "has space"}, "order_id"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_each_bad_field_is_named(change, field):
    with pytest.raises(InvalidOrder, match=field.replace(".", r"\.")):
        parse_order(json.dumps({**VALID, **change}))


def test_card_numbers_never_appear_in_the_order_repr():
    order = parse_order(json.dumps(VALID))
    assert "tok_visa" not in repr(order)


CONTACT = {
    "customer_name": "Grace Hopper",
    "customer_email": "grace@example.com",
    "shipping_address": {"line1": "1 Navy Way", "postal_code": "20001", "city": "Washington", "country": "US"},
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_email": "grace at example.com"}, "customer_email"),
        ({"customer_name": "   "}, "customer_name"),
        ({"customer_name": "Grace\nHopper"}, "customer_name"),
        ({"shipping_address": {**CONTACT["shipping_address"], "country": "usa"}}, "shipping_address.country"),
        ({"shipping_address": {**CONTACT["shipping_address"], "planet": "Earth"}}, "shipping_address.planet"),
    ],
)
def test_each_bad_contact_field_is_named(change, field):
    with pytest.raises(InvalidOrder, match=field.replace(".", r"\.")) as err:
        parse_order(json.dumps({**VALID, **CONTACT, **change}))
    # Refused by the field's own rule; only an unknown field is refused as one.
    assert ("Extra inputs" in str(err.value)) == field.endswith("planet")


def test_the_contact_is_optional_and_never_in_the_repr_or_the_summary():
    assert parse_order(json.dumps(VALID)).customer_email is None
    order = parse_order(json.dumps({**VALID, **CONTACT}))
    assert order.shipping_address is not None and order.shipping_address.city == "Washington"
    for text in (repr(order), order.describe()):
        assert "Grace" not in text and "grace@" not in text and "Navy" not in text


def test_the_erp_request_carries_the_contact_and_leaves_it_out_when_absent():
    from workflows.models import ErpOrderRequest

    with_contact = ErpOrderRequest.of(parse_order(json.dumps({**VALID, **CONTACT}))).body()
    assert with_contact["customer_email"] == "grace@example.com"
    assert with_contact["shipping_address"]["country"] == "US"
    assert {"customer_name", "customer_email", "shipping_address"}.isdisjoint(
        ErpOrderRequest.of(parse_order(json.dumps(VALID))).body()
    )
