"""A decision that reaches Temporal without a door's proof is refused, encrypted or not: whoever may call the codec
server's `/encode` can encrypt a review, and a deployment may not encrypt at all (issue 21, High). Checked before the
workflow's own validator; a refused decision leaves no trace in history.

Written with what the code had before proofs existed, so each test also runs, and fails, against it."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.history_helpers import updates_recorded
from tests.unit.fakes import FakeServices, permanent
from tests.unit.test_manual_review import REFERRED, _awaiting_review, _start
from tests.unit.test_order_workflow import _start as _start_small
from tests.unit.test_order_workflow import _until_state, _worker
from workflows.models import OrderState, ReviewDecision, ReviewVerdict
from workflows.order import OrderWorkflow


async def test_an_encrypted_review_without_proof_is_refused_and_changes_nothing(time_skipping_env, task_queue):
    fakes = FakeServices(results=REFERRED)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        unsigned = ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="mallory")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(OrderWorkflow.review, unsigned)
        progress = await handle.query(OrderWorkflow.status)
        history = await handle.fetch_history()
        await handle.terminate()  # left open, its deadline would hold up time skipping for the tests after it
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "DecisionRefused", cause
    assert "carries no proof" in str(cause)
    assert progress.state == OrderState.AWAITING_REVIEW and progress.review.outcome is None
    assert updates_recorded(history) == []
    assert fakes.calls == ["create_erp_order", "assess_risk"]


async def test_an_operator_retry_without_proof_is_refused_and_changes_nothing(time_skipping_env, task_queue):
    # A declined card whose refund is refused: the order waits in needs_attention for an operator.
    fakes = FakeServices(
        failures={"charge_payment": [permanent()], "refund_payment": [permanent("ChargeNotRefundable")]}
    )
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start_small(time_skipping_env, task_queue)
        await _until_state(handle, OrderState.NEEDS_ATTENTION)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("retry_compensation")
        progress = await handle.query(OrderWorkflow.status)
        history = await handle.fetch_history()
        await handle.terminate()
    assert "carries no proof" in str(refused.value.cause)
    assert progress.state == OrderState.NEEDS_ATTENTION
    assert updates_recorded(history) == []
