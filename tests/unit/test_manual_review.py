"""Manual review in `OrderWorkflow`, on the time-skipping server: a large order the risk rules refer to a person waits
in `awaiting_review` — nothing charged — until a reviewer approves (charge, carry on) or rejects (compensate), its
deadline passes (rejected, compensated) or it is cancelled (compensated at once)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import CancelledError

from clients.orders import send_review
from starters.replay import new_replayer
from tests.conftest import make_order
from tests.history_helpers import scheduled_activities
from tests.replay.task_splits import cut_after, cut_points
from tests.unit.fakes import FakeServices
from tests.unit.production_worker import result_of
from tests.unit.test_order_workflow import FORWARD, _worker
from workflows.models import (
    RISK_CHECK_THRESHOLD,
    OrderProgress,
    OrderState,
    PaymentOutcome,
    ReviewDecision,
    ReviewOutcome,
    ReviewVerdict,
    RiskAssessment,
    Step,
)
from workflows.order import REVIEW_DEADLINE_PASSED, REVIEW_EXPIRED, REVIEW_REJECTED, OrderWorkflow
from workflows.policies import DEFAULT_REVIEW_DEADLINE, REVIEW_DEADLINE_MEMO

REFERRED = {
    "assess_risk": lambda: RiskAssessment(approved=False, score=100, reasons=["total above"], review_required=True)
}
# Every step's key is fenced (workflows/order.py, LOCAL_FIRST_PATCH): nothing reserved or charged to undo.
UNDO_WITHOUT_CHARGE = ["release_inventory", "refund_payment", "cancel_erp_order"]


def _approve(reason: str | None = None) -> ReviewDecision:
    return ReviewDecision(decision=ReviewVerdict.APPROVE, reason=reason, reviewer="api-key:risk-desk")


def _reject(reason: str | None = "stolen card reported") -> ReviewDecision:
    return ReviewDecision(decision=ReviewVerdict.REJECT, reason=reason, reviewer="cli:alice")


async def _start(env, task_queue: str, **options) -> WorkflowHandle:
    order = make_order(unit_price=RISK_CHECK_THRESHOLD)
    return await env.client.start_workflow(
        OrderWorkflow.run, order, id=order.workflow_id, task_queue=task_queue, **options
    )


async def _awaiting_review(handle: WorkflowHandle) -> OrderProgress:
    """Polls the history until the review's deadline timer is recorded, then queries. Neither advances test time, so
    the deadline cannot pass meanwhile — except that the time-skipping test server lets time run while a query waits
    for a workflow task that is running local activities (workflows/order.py, LOCAL_FIRST_PATCH), which would fire
    another order's deadline: hence no query before the order's own workflow task is over."""
    for _ in range(200):
        if any([e.event_type == EventType.EVENT_TYPE_TIMER_STARTED async for e in handle.fetch_history_events()]):
            break
        await asyncio.sleep(0.05)
    for _ in range(200):
        progress = await handle.query(OrderWorkflow.status)
        if progress.state == OrderState.AWAITING_REVIEW:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached awaiting_review: {progress}")


def _waited(progress: OrderProgress) -> timedelta:
    assert progress.review is not None
    return datetime.fromisoformat(progress.review.deadline) - datetime.fromisoformat(progress.review.requested_at)


async def test_an_approved_order_is_charged_only_after_the_approval_and_completes(time_skipping_env, task_queue):
    fakes = FakeServices(results=REFERRED)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        waiting = await _awaiting_review(handle)
        assert fakes.calls == ["create_erp_order", "assess_risk"]  # nothing charged while waiting
        assert waiting.current_step == Step.CHARGE_PAYMENT and waiting.review.reasons == ["total above"]
        assert (await handle.execute_update(OrderWorkflow.payment_decision)).outcome == PaymentOutcome.PENDING_REVIEW
        answered = await send_review(handle, _approve("known customer"))
        result = await result_of(handle)
        events = await handle.query(OrderWorkflow.events, 0)
    assert answered.state != OrderState.AWAITING_REVIEW and answered.review.outcome == ReviewOutcome.APPROVED
    assert result.state == OrderState.COMPLETED and result.payment.outcome == PaymentOutcome.CHARGED
    assert fakes.calls == ["create_erp_order", "assess_risk", *FORWARD[1:]]
    review = result.review
    assert (review.outcome, review.reviewer, review.reason) == (
        ReviewOutcome.APPROVED,
        "api-key:risk-desk",
        "known customer",
    )
    assert [e.detail for e in events if e.kind == "review_decided"] == ["approved by api-key:risk-desk: known customer"]


async def test_a_rejected_order_is_compensated_with_the_reviewers_reason_and_never_charged(
    time_skipping_env, task_queue
):
    fakes = FakeServices(results=REFERRED)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        await send_review(handle, _reject())
        result = await result_of(handle)
    assert (result.state, result.failed_step, result.error_type) == (
        OrderState.COMPENSATED,
        Step.CHARGE_PAYMENT,
        REVIEW_REJECTED,
    )
    assert result.reason == "rejected in review by cli:alice: stolen card reported"
    assert result.payment.outcome == PaymentOutcome.REFUSED
    assert fakes.calls == ["create_erp_order", "assess_risk", *UNDO_WITHOUT_CHARGE]
    assert (result.review.outcome, result.review.reviewer) == (ReviewOutcome.REJECTED, "cli:alice")


async def test_no_decision_within_24_hours_rejects_the_order_and_compensates_it(time_skipping_env, task_queue):
    fakes = FakeServices(results=REFERRED)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        waiting = await _awaiting_review(handle)
        result = await result_of(handle)  # waiting on the result lets the server skip the 24 h
    assert _waited(waiting) == DEFAULT_REVIEW_DEADLINE
    assert (result.state, result.error_type, result.reason) == (
        OrderState.COMPENSATED,
        REVIEW_EXPIRED,
        REVIEW_DEADLINE_PASSED,
    )
    assert (result.review.outcome, result.review.reason) == (ReviewOutcome.EXPIRED, REVIEW_DEADLINE_PASSED)
    decided = datetime.fromisoformat(result.review.decided_at)
    assert decided - datetime.fromisoformat(result.review.requested_at) >= DEFAULT_REVIEW_DEADLINE
    assert fakes.calls == ["create_erp_order", "assess_risk", *UNDO_WITHOUT_CHARGE]


async def test_the_deadline_fixed_at_start_wins_over_the_workers(time_skipping_env, task_queue):
    worker_says = {"assess_risk": lambda: REFERRED["assess_risk"]().model_copy(update={"review_deadline_s": 3600})}
    async with _worker(time_skipping_env, task_queue, FakeServices(results=worker_says)):
        # One after the other: on the time-skipping test server, a second order running local activities lets time
        # run (see _awaiting_review), and the first order's 90 s would pass before its decision.
        for memo, deadline in (({REVIEW_DEADLINE_MEMO: 90}, timedelta(seconds=90)), (None, timedelta(hours=1))):
            handle = await _start(time_skipping_env, task_queue, **({"memo": memo} if memo else {}))
            assert _waited(await _awaiting_review(handle)) == deadline
            await send_review(handle, _reject())
            await result_of(handle)


async def test_cancelling_an_order_awaiting_review_compensates_it_at_once(time_skipping_env, task_queue):
    fakes = FakeServices(results=REFERRED)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await result_of(handle)
        progress = await handle.query(OrderWorkflow.status)
    assert isinstance(failure.value.cause, CancelledError)
    assert progress.state == OrderState.COMPENSATED and progress.reason == "cancelled on request"
    assert progress.review.outcome == ReviewOutcome.CANCELLED
    assert fakes.calls == ["create_erp_order", "assess_risk", *UNDO_WITHOUT_CHARGE]


async def test_a_second_decision_is_refused_and_changes_nothing(time_skipping_env, task_queue):
    # A slow charge keeps the approved order open after the first decision is answered: a fast one would complete the
    # order in the workflow task that took the decision, and the second would find it closed.
    fakes = FakeServices(results=REFERRED, delays={"charge_payment": 1.0})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        await send_review(handle, _approve())
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await send_review(handle, _reject())
        result = await result_of(handle)
    assert "not awaiting review: its review ended approved" in str(refused.value.cause)
    assert result.state == OrderState.COMPLETED and result.review.reviewer == "api-key:risk-desk"


async def test_a_decision_on_an_order_that_is_not_awaiting_review_is_refused(time_skipping_env, task_queue):
    fakes = FakeServices(delays={"charge_payment": 1.0})  # a small order, mid-charge
    async with _worker(time_skipping_env, task_queue, fakes):
        order = make_order()
        handle = await time_skipping_env.client.start_workflow(
            OrderWorkflow.run, order, id=order.workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await send_review(handle, _approve())
        result = await result_of(handle)
    assert "is not awaiting review: it is running" in str(refused.value.cause)
    assert result.state == OrderState.COMPLETED and result.review is None


@pytest.mark.parametrize("referred", [False, True], ids=["risk-approved", "reviewed"])
async def test_a_large_order_replays_whatever_its_workflow_task_boundaries(time_skipping_env, task_queue, referred):
    # A large order of this code, re-cut at every point where one of its workflow tasks could have ended (a query
    # arriving while a local attempt runs is enough to end one): every cut replays. The code before
    # `decided-at-start` asked the risk-check and manual-review patches after the create-ERP call, and a cut after
    # that call wedged the order (tests/replay/test_task_splits.py).
    fakes = FakeServices(results=REFERRED if referred else None)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        if referred:
            await _awaiting_review(handle)
            await send_review(handle, _approve())
        assert (await result_of(handle)).state == OrderState.COMPLETED
        history = await handle.fetch_history()
    assert "assess_risk" in scheduled_activities(history)
    points = cut_points(history)
    assert len(points) >= 5
    for point in points:
        await new_replayer().replay_workflow(cut_after(history, point))
