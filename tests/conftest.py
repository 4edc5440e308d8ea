"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from cadenza.codec import KEYS_ENV, KEYS_FILE_ENV
from cadenza.decision_keys import DECISION_KEYS
from cadenza.processes import share_free_ports
from workflows.models import Order, OrderLine

TEST_KEYS_FILE = Path(__file__).with_name("test-only-encryption-keys")
TEST_DECISION_KEYS_FILE = Path(__file__).with_name("test-only-decision-keys")

# Every test process (and every stack child it starts, which inherits the environment) encrypts payloads and signs
# decisions as a deployed Cadenza does, with the committed test-only keys rather than whatever keys the developer's
# shell holds.
os.environ.pop(KEYS_ENV, None)
os.environ[KEYS_FILE_ENV] = str(TEST_KEYS_FILE)
os.environ.pop(DECISION_KEYS.keys_env, None)
os.environ[DECISION_KEYS.file_env] = str(TEST_DECISION_KEYS_FILE)


# `make test` runs the suite on several processes (pytest-xdist), each starting stacks on free ports: each picks them
# from a slice of its own, so two processes never choose the same port before its server has bound it. The children
# it starts inherit the slice through their environment.
if (_worker := os.environ.get("PYTEST_XDIST_WORKER", "")).startswith("gw"):
    share_free_ports(int(_worker[2:]), int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))


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
