"""The risk check of large orders: its rules, and where `OrderWorkflow` runs it (before the charge, large orders
only)."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from activities.risk import BULK_QUANTITY, REJECTED, REVIEW_LIMIT, assess, rejection
from tests.conftest import make_order
from tests.unit.fakes import FakeServices, permanent
from tests.unit.production_worker import result_of
from tests.unit.test_order_workflow import FORWARD, _worker
from workflows.models import RISK_CHECK_THRESHOLD, Order, OrderLine, OrderState, RiskAssessmentRequest, Step
from workflows.order import OrderWorkflow

LARGE = make_order(unit_price=RISK_CHECK_THRESHOLD // 4)  # two SKUs × 2 units: exactly the threshold


def _request(quantity: int, unit_price: int, *, review_allowed: bool = True) -> RiskAssessmentRequest:
    line = OrderLine(sku="SKU-LAMP", quantity=quantity, unit_price=unit_price)
    order = Order(order_id="o-1", customer_id="c-17", currency="EUR", payment_token="tok_visa", lines=[line])
    return RiskAssessmentRequest.of(order, review_allowed=review_allowed)


# ---- the rules ------------------------------------------------------------------------------------------------------


def test_an_order_within_the_limits_is_approved_with_a_score():
    assessment = assess(_request(4, 30_000))
    assert assessment.approved and not assessment.review_required and assessment.reasons == []
    assert assessment.score == 120_000 * 100 // REVIEW_LIMIT


def test_an_order_above_the_amount_limit_goes_to_a_person():
    assessment = assess(_request(1, REVIEW_LIMIT + 1))
    assert assessment.review_required and not assessment.approved
    assert "above the 10000.00 EUR limit" in assessment.reasons[0]


@pytest.mark.parametrize(
    ("lines", "review_allowed", "reason"),
    [
        ((BULK_QUANTITY, 2_000), True, f"{BULK_QUANTITY} or more units of SKU-LAMP"),
        # Bulk and above the limit: refused, review or not.
        ((BULK_QUANTITY, REVIEW_LIMIT), True, f"{BULK_QUANTITY} or more units of SKU-LAMP"),
        # Workflow code that cannot wait for a person (started before manual review) gets the old refusal.
        ((1, REVIEW_LIMIT + 1), False, "above the"),
    ],
)
def test_a_bulk_order_or_one_that_cannot_be_reviewed_is_refused_with_a_non_retryable_error(
    lines, review_allowed, reason
):
    request = _request(*lines, review_allowed=review_allowed)
    assessment = assess(request)
    assert not assessment.approved and not assessment.review_required and reason in assessment.reasons[0]
    error = rejection(request, assessment)
    assert isinstance(error, ApplicationError)
    assert (error.type, error.non_retryable) == (REJECTED, True)


# ---- in the workflow ------------------------------------------------------------------------------------------------


async def _run(env, task_queue: str, fakes: FakeServices, order: Order):
    async with _worker(env, task_queue, fakes):
        handle = await env.client.start_workflow(OrderWorkflow.run, order, id=order.workflow_id, task_queue=task_queue)
        return await result_of(handle)


async def test_a_large_order_is_risk_checked_right_before_its_charge(time_skipping_env, task_queue):
    fakes = FakeServices()
    result = await _run(time_skipping_env, task_queue, fakes, LARGE)
    assert result.state == OrderState.COMPLETED
    assert fakes.calls == ["create_erp_order", "assess_risk", *FORWARD[1:]]
    assert result.risk is not None and result.risk.approved
    assert result.completed_steps == list(Step)  # a sub-step of the charge: the four steps are unchanged


async def test_a_refused_large_order_is_compensated_without_a_charge(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"assess_risk": [permanent(REJECTED)]})
    result = await _run(time_skipping_env, task_queue, fakes, LARGE)
    assert (result.state, result.failed_step, result.error_type) == (
        OrderState.COMPENSATED,
        Step.CHARGE_PAYMENT,
        REJECTED,
    )
    assert "charge_payment" not in fakes.calls
    assert fakes.calls[-2:] == ["refund_payment", "cancel_erp_order"]  # the refund finds nothing: harmless
    assert result.risk is None


async def test_a_small_order_is_not_risk_checked(time_skipping_env, task_queue):
    fakes = FakeServices()
    small = make_order(unit_price=RISK_CHECK_THRESHOLD // 4 - 1)
    result = await _run(time_skipping_env, task_queue, fakes, small)
    assert fakes.calls == FORWARD and result.risk is None
