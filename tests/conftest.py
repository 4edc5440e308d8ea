"""Fixtures shared by every test folder."""

from __future__ import annotations

import uuid

import pytest

from workflows.models import Order, OrderLine


def make_order(
    *,
    token: str = "tok_visa",
    skus: tuple[str, ...] = ("SKU-BOOK", "SKU-MUG"),
    order_id: str | None = None,
    unit_price: int = 1050,
) -> Order:
    """A valid order with one line per SKU; each test gets its own order id unless it names one."""
    return Order(
        order_id=order_id or f"t-{uuid.uuid4().hex[:12]}",
        customer_id="c-17",
        currency="EUR",
        payment_token=token,
        lines=[OrderLine(sku=sku, quantity=2, unit_price=unit_price) for sku in skus],
    )


@pytest.fixture
def task_queue() -> str:
    # A fresh queue per test, so a worker of one test never picks up another test's tasks.
    return f"test-{uuid.uuid4().hex}"
