"""Bad input gets a clear error naming the field, and nothing else: the order model as the CLI parses it."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from starters.orders import InvalidOrder, parse_order

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
    try:
        parse_order(raw)
    except InvalidOrder:
        pass


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
