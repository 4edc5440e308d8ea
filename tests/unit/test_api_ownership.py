"""Customer-scoped order ids (api/ownership.py): an id of each customer's own, that every tool accepts as an order id,
and the addresses the API answers with."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from api.ownership import ORDER_ID_MEMO, OrderAddress, new_address, scoped_order_id
from tests.conftest import make_order

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # Order.order_id, and the services' external ids
identifiers = st.from_regex(IDENTIFIER, fullmatch=True)


@given(identifiers, identifiers)
def test_a_scoped_id_is_an_order_id_every_tool_takes(customer, order_id):
    scoped = scoped_order_id(customer, order_id)
    assert IDENTIFIER.match(scoped) and scoped == scoped_order_id(customer, order_id)


@given(identifiers, identifiers, identifiers)
def test_two_customers_never_share_a_scoped_id(first, second, order_id):
    if first != second:
        assert scoped_order_id(first, order_id) != scoped_order_id(second, order_id)


def test_a_long_order_id_is_cut_to_fit_and_still_told_apart():
    long_a, long_b = "a" * 63 + "1", "a" * 63 + "2"
    assert len(scoped_order_id("c-1", long_a)) == 64
    assert scoped_order_id("c-1", long_a) != scoped_order_id("c-1", long_b)


def test_a_bound_keys_order_is_filed_under_its_customers_id_and_links_name_the_customer():
    order = make_order(order_id="ord-1")

    scoped, plain = new_address(order, bound=True), new_address(order, bound=False)

    assert scoped.filed_as == scoped_order_id("c-17", "ord-1") and scoped.workflow_id == f"order-{scoped.filed_as}"
    assert scoped.path == "/orders/ord-1?customer_id=c-17"
    assert scoped.as_filed(order).order_id == scoped.filed_as and scoped.start_memo() == {ORDER_ID_MEMO: "ord-1"}
    assert plain == OrderAddress("ord-1", "c-17", "ord-1")
    assert (plain.path, plain.workflow_id, plain.start_memo()) == ("/orders/ord-1", "order-ord-1", {})
    assert plain.as_filed(order) is order
