"""New executions take the patched path: a large order placed now is risk-checked before its charge, for real, and
its history holds the one patch marker asked at its start (workflows/order.py, FIRST_ATTEMPTS_TOGETHER_PATCH, which
implies every patch before it) and no other."""

from __future__ import annotations

import pytest

from activities.risk import BULK_QUANTITY, REJECTED
from clients.orders import place_order, wait_for_result
from tests.conftest import make_order
from tests.history_helpers import patch_ids, scheduled_activities
from tests.integration.test_order_fulfilment import _assert_consistent
from workflows.models import RISK_CHECK_THRESHOLD, OrderState, Step
from workflows.order import FIRST_ATTEMPTS_TOGETHER_PATCH

pytestmark = pytest.mark.integration

# The patches every new order asks, at its start and nowhere else (workflows/order.py).
AT_START = [FIRST_ATTEMPTS_TOGETHER_PATCH]


async def test_a_large_order_is_risk_checked_before_its_charge_with_every_patch_decided_at_its_start(harness):
    order = make_order(unit_price=RISK_CHECK_THRESHOLD // 2)
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    result = await wait_for_result(placed.handle)
    assert result.state == OrderState.COMPLETED and result.risk is not None and result.risk.approved
    history = await placed.handle.fetch_history()
    assert scheduled_activities(history)[:3] == ["create_erp_order", "assess_risk", "charge_payment"]
    assert patch_ids(history) == AT_START
    await _assert_consistent(harness, order, OrderState.COMPLETED)


async def test_a_large_order_the_risk_check_refuses_is_never_charged(harness):
    # Bulk: the one rule that refuses outright (an order above the amount limit goes to a person instead).
    bulk = make_order(skus=("SKU-BOOK",))
    line = bulk.lines[0].model_copy(
        update={"quantity": BULK_QUANTITY, "unit_price": RISK_CHECK_THRESHOLD // BULK_QUANTITY}
    )
    order = bulk.model_copy(update={"lines": [line]})
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    result = await wait_for_result(placed.handle)
    assert (result.state, result.failed_step, result.error_type) == (
        OrderState.COMPENSATED,
        Step.CHARGE_PAYMENT,
        REJECTED,
    )
    records = await _assert_consistent(harness, order, OrderState.COMPENSATED)
    assert records.charges == [] and records.erp_order["status"] == "cancelled"


async def test_a_small_order_is_not_risk_checked_and_records_the_same_patches(harness):
    placed = await place_order(harness.client, make_order(), task_queue=harness.task_queue)
    await wait_for_result(placed.handle)
    history = await placed.handle.fetch_history()
    assert "assess_risk" not in scheduled_activities(history) and patch_ids(history) == AT_START
