"""OrderWorkflow's control flow: step order, compensation order, retries, cancellation, operator recovery."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import CancelledError
from temporalio.worker import Worker

from clients.orders import order_result, retry_compensations
from starters.replay import new_replayer
from tests.conftest import make_order
from tests.history_helpers import scheduled_activities
from tests.unit.fakes import FakeServices, permanent, unavailable
from tests.unit.production_worker import production_worker, result_of
from workflows.models import CompensationStatus, OrderProgress, OrderResult, OrderState, Step
from workflows.order import OrderWorkflow
from workflows.policies import COMPENSATION_DEADLINE, LOCAL_ATTEMPT_TIMEOUT, STEP_ATTEMPTS, activity_options

FORWARD = ["create_erp_order", "charge_payment", "reserve_inventory", "confirm_erp_order", "commit_inventory"]
# The compensations of a failed order, in the order they run: every step's key is fenced, reached or not
# (workflows/order.py, LOCAL_FIRST_PATCH).
UNDO_ALL = ["release_inventory", "refund_payment", "cancel_erp_order"]


def _worker(env, task_queue: str, fakes: FakeServices) -> Worker:
    # As production runs it: Cadenza's workflow runner and failure semantics (tests.unit.production_worker).
    return production_worker(env.client, task_queue, fakes.activities())


async def _start(env, task_queue: str) -> WorkflowHandle:
    order = make_order()
    return await env.client.start_workflow(OrderWorkflow.run, order, id=order.workflow_id, task_queue=task_queue)


async def test_happy_path_runs_every_step_once_and_no_compensation(time_skipping_env, task_queue):
    fakes = FakeServices()
    async with _worker(time_skipping_env, task_queue, fakes):
        result: OrderResult = await result_of(await _start(time_skipping_env, task_queue))
    assert result.state == OrderState.COMPLETED
    assert result.completed_steps == list(Step)
    assert result.compensations == []
    assert (result.charge_id, result.reservation_id) == ("ch_fake", "res_fake")
    assert fakes.calls == FORWARD


async def test_declined_card_compensates_completed_steps_in_reverse(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"charge_payment": [permanent()]})
    async with _worker(time_skipping_env, task_queue, fakes):
        result = await result_of(await _start(time_skipping_env, task_queue))
    assert result.state == OrderState.COMPENSATED
    assert result.failed_step == Step.CHARGE_PAYMENT
    assert result.error_type == "CardDeclined"
    assert "CardDeclined" in result.reason
    # Non-retryable: one attempt. The refund runs too, because a charge whose reply is lost looks just like this;
    # and the release, because a workflow task lost after its local attempts may have reserved (LOCAL_FIRST_PATCH).
    assert fakes.calls == ["create_erp_order", "charge_payment", *UNDO_ALL]
    assert [(c.action, c.status) for c in result.compensations] == [
        ("release_inventory", CompensationStatus.DONE),
        ("refund_payment", CompensationStatus.DONE),
        ("cancel_erp_order", CompensationStatus.DONE),
    ]


async def test_out_of_stock_unwinds_all_three_steps(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"reserve_inventory": [permanent("OutOfStock")]})
    async with _worker(time_skipping_env, task_queue, fakes):
        result = await result_of(await _start(time_skipping_env, task_queue))
    assert result.failed_step == Step.RESERVE_INVENTORY
    assert [c.action for c in result.compensations] == ["release_inventory", "refund_payment", "cancel_erp_order"]
    assert result.completed_steps == [Step.CREATE_ERP_ORDER, Step.CHARGE_PAYMENT]


async def test_transient_errors_are_retried_by_the_server(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"charge_payment": [unavailable(), unavailable()]})
    async with _worker(time_skipping_env, task_queue, fakes):
        result = await result_of(await _start(time_skipping_env, task_queue))
    assert result.state == OrderState.COMPLETED
    assert fakes.calls.count("charge_payment") == 3


async def test_step_that_keeps_failing_gives_up_after_its_attempts_and_compensates(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"reserve_inventory": [unavailable() for _ in range(100)]})
    async with _worker(time_skipping_env, task_queue, fakes):
        result = await result_of(await _start(time_skipping_env, task_queue))
    assert result.state == OrderState.COMPENSATED
    assert result.failed_step == Step.RESERVE_INVENTORY
    assert result.reason.startswith("gave up retrying after the step's last attempt; last error: payment answered 503")
    assert fakes.calls.count("reserve_inventory") == STEP_ATTEMPTS


async def test_a_slow_local_attempt_goes_on_as_a_server_activity_with_the_same_key(time_skipping_env, task_queue):
    # The charge answers after LOCAL_ATTEMPT_TIMEOUT: its local attempt is abandoned, and after the step's first
    # backoff the server runs the step with the same idempotency key (a real service would answer the first
    # request's outcome) and the same summary in the Web UI.
    fakes = FakeServices(delays={"charge_payment": LOCAL_ATTEMPT_TIMEOUT.total_seconds() + 0.2})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        result = await result_of(handle)
        history = await handle.fetch_history()
    assert result.state == OrderState.COMPLETED
    keys = [argument["idempotency_key"] for name, argument in fakes.arguments if name == "charge_payment"]
    assert len(keys) == 2 and keys[0] == keys[1]
    # The first attempt made in the batch of first attempts, the second by the server.
    assert scheduled_activities(history)[0] == "first_attempts" and "charge_payment" in fakes.batches[0]
    assert [name for name in scheduled_activities(history) if name == "charge_payment"] == ["charge_payment"]
    [server_attempt] = [
        event
        for event in history.events
        if event.activity_task_scheduled_event_attributes.activity_type.name == "charge_payment"
    ]
    assert server_attempt.user_metadata.HasField("summary")
    assert all(name not in ("refund_payment", "cancel_erp_order") for name in fakes.calls)


async def test_confirm_and_commit_failing_out_of_order_replay_as_they_ran(time_skipping_env, task_queue):
    # The two calls' local attempts run together and both fail retryably, the commit first, so each goes on to a
    # timer and a server attempt in the order the attempts failed, not the order they were made. Replay must resolve
    # them in that same order (the SDK does: from the markers' order in history), or the commit's retry would meet
    # the confirmation's events.
    fakes = FakeServices(
        failures={"confirm_erp_order": [unavailable()], "commit_inventory": [unavailable()]},
        delays={"confirm_erp_order": LOCAL_ATTEMPT_TIMEOUT.total_seconds() / 2},
    )
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        result = await result_of(handle)
        history = await handle.fetch_history()
    assert result.state == OrderState.COMPLETED
    first_attempts = [name for name in fakes.calls if name in ("confirm_erp_order", "commit_inventory")][:2]
    assert first_attempts == ["confirm_erp_order", "commit_inventory"]  # started in this order
    # Both went on to the server, in whichever order their local attempts failed; the replay is the proof.
    assert sorted(scheduled_activities(history)[-2:]) == ["commit_inventory", "confirm_erp_order"]
    await new_replayer().replay_workflow(history)


@pytest.mark.parametrize("activity", FORWARD)
def test_a_step_budget_counts_attempts_not_time_waiting_for_a_worker(activity):
    # A schedule-to-close (or schedule-to-start) deadline counts the time a step waits for a worker: a worker outage
    # longer than it would compensate healthy orders. The budget is the attempts, which only a worker makes.
    options = activity_options(activity)
    assert "schedule_to_close_timeout" not in options and "schedule_to_start_timeout" not in options
    assert options["retry_policy"].maximum_attempts == STEP_ATTEMPTS
    assert options["start_to_close_timeout"] < timedelta(minutes=1)


@pytest.mark.parametrize(
    "attempt", [1, 2], ids=["during the local attempt", "during the server attempt after it timed out"]
)
async def test_cancel_mid_step_waits_for_the_call_then_compensates_everything(time_skipping_env, task_queue, attempt):
    # The reservation is in flight when the cancel arrives and still succeeds: it must be released too. The call
    # takes 1 s, so its local attempt times out and a server attempt follows; that one does not heartbeat and still
    # succeeds after the cancel, which must not be absorbed by the activity's own cancel handling (the shield).
    fakes = FakeServices(delays={"reserve_inventory": 1.0})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        async with asyncio.timeout(10):
            while fakes.calls.count("reserve_inventory") < attempt:
                await asyncio.sleep(0.02)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await result_of(handle)
        progress: OrderProgress = await handle.query(OrderWorkflow.status)
    assert isinstance(failure.value.cause, CancelledError)
    assert progress.state == OrderState.COMPENSATED
    assert progress.reason == "cancelled on request"
    assert fakes.calls[-3:] == UNDO_ALL
    assert "commit_inventory" not in fakes.calls


async def test_failed_compensation_waits_for_an_operator_then_retries_only_what_failed(time_skipping_env, task_queue):
    fakes = FakeServices(
        failures={"charge_payment": [permanent()], "refund_payment": [permanent("ChargeNotRefundable")]}
    )
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        for _ in range(100):
            progress: OrderProgress = await handle.query(OrderWorkflow.status)
            if progress.state == OrderState.NEEDS_ATTENTION:
                break
            await asyncio.sleep(0.05)
        assert progress.state == OrderState.NEEDS_ATTENTION
        # The other compensation still ran; the failure is recorded, not dropped.
        assert [(c.action, c.status) for c in progress.compensations] == [
            ("release_inventory", CompensationStatus.DONE),
            ("refund_payment", CompensationStatus.FAILED),
            ("cancel_erp_order", CompensationStatus.DONE),
        ]
        await retry_compensations(handle, operator="cli:ops")
        result = await result_of(handle)
    assert result.state == OrderState.COMPENSATED
    assert fakes.calls.count("refund_payment") == 2
    assert fakes.calls.count("cancel_erp_order") == 1


async def test_cancel_of_an_order_waiting_for_an_operator_keeps_it_open_until_its_compensations_finish(
    time_skipping_env, task_queue
):
    # The failure path (a declined card), not a cancel, started the compensation; a refund refused once leaves the
    # order in needs_attention. Two cancels must not close it: the refund has yet to happen.
    fakes = FakeServices(
        failures={"charge_payment": [permanent()], "refund_payment": [permanent("ChargeNotRefundable")]}
    )
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _until_state(handle, OrderState.NEEDS_ATTENTION)
        await handle.cancel()
        await handle.cancel()
        await asyncio.sleep(0.5)
        assert (await handle.query(OrderWorkflow.status)).state == OrderState.NEEDS_ATTENTION
        await retry_compensations(handle, operator="cli:ops")
        result = await order_result(handle)
    assert result.state == OrderState.COMPENSATED and result.error_type == "CardDeclined"
    assert [(c.action, c.status) for c in result.compensations] == [
        ("release_inventory", CompensationStatus.DONE),
        ("refund_payment", CompensationStatus.DONE),
        ("cancel_erp_order", CompensationStatus.DONE),
    ]


async def test_cancel_while_compensating_after_a_failure_lets_the_compensations_finish(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"charge_payment": [permanent()]}, delays={"refund_payment": 1.0})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await asyncio.wait_for(fakes.started["refund_payment"].wait(), 10)
        await handle.cancel()
        result = await order_result(handle)
    assert result.state == OrderState.COMPENSATED
    assert fakes.calls[-2:] == ["refund_payment", "cancel_erp_order"]


async def _until_state(handle: WorkflowHandle, state: OrderState) -> None:
    for _ in range(200):
        if (await handle.query(OrderWorkflow.status)).state == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the order never reached {state}")


async def test_status_query_reports_the_step_in_progress(time_skipping_env, task_queue):
    fakes = FakeServices(delays={"charge_payment": 0.5})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await asyncio.wait_for(fakes.started["charge_payment"].wait(), 10)
        progress: OrderProgress = await handle.query(OrderWorkflow.status)
        await result_of(handle)
    assert progress.state == OrderState.RUNNING
    assert progress.current_step == Step.CHARGE_PAYMENT
    assert progress.completed_steps == [Step.CREATE_ERP_ORDER]


async def _wait_for_state(handle: WorkflowHandle, state: OrderState) -> OrderProgress:
    for _ in range(400):
        progress: OrderProgress = await handle.query(OrderWorkflow.status)
        if progress.state == state:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"order never reached {state}; last seen {progress.state}")


async def test_compensation_failing_past_its_deadline_needs_attention_until_an_operator_retries(
    time_skipping_env, task_queue
):
    # The refund keeps answering 503 (retryable): after COMPENSATION_DEADLINE of retries it is recorded as failed
    # and the order waits, visibly, instead of closing half-compensated.
    fakes = FakeServices(failures={"charge_payment": [permanent()], "refund_payment": [unavailable()] * 10_000})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await time_skipping_env.sleep(COMPENSATION_DEADLINE + timedelta(minutes=5))  # skips time: no real wait
        progress = await _wait_for_state(handle, OrderState.NEEDS_ATTENTION)
        [refund] = [c for c in progress.compensations if c.action == "refund_payment"]
        assert (refund.action, refund.status) == ("refund_payment", CompensationStatus.FAILED)
        assert "gave up retrying" in refund.detail
        fakes.failures["refund_payment"].clear()  # the operator fixed the cause
        await retry_compensations(handle, operator="cli:ops")
        result = await result_of(handle)
    assert result.state == OrderState.COMPENSATED
    assert all(c.status == CompensationStatus.DONE for c in result.compensations)


async def test_retry_compensation_is_refused_unless_the_order_needs_attention(time_skipping_env, task_queue):
    fakes = FakeServices(delays={"charge_payment": 1.0})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await retry_compensations(handle, operator="cli:ops")
        await result_of(handle)
    assert "not needs_attention" in str(refused.value.cause)


async def test_every_change_of_progress_is_an_event_numbered_in_order(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"reserve_inventory": [permanent("OutOfStock")]})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await order_result(handle)
        events = await handle.query(OrderWorkflow.events, 0)
        later = await handle.query(OrderWorkflow.events, 3)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert later == events[3:]
    assert [(e.kind.value, (e.step or e.compensation or e.state).value) for e in events] == [
        ("step_started", "create_erp_order"),
        ("step_done", "create_erp_order"),
        ("step_started", "charge_payment"),
        ("step_done", "charge_payment"),
        ("step_started", "reserve_inventory"),
        ("step_failed", "reserve_inventory"),
        ("state", "compensating"),
        ("compensation_started", "release_inventory"),
        ("compensation_done", "release_inventory"),
        ("compensation_started", "refund_payment"),
        ("compensation_done", "refund_payment"),
        ("compensation_started", "cancel_erp_order"),
        ("compensation_done", "cancel_erp_order"),
        ("state", "compensated"),
    ]


@pytest.mark.parametrize(
    ("failures", "outcome"),
    [
        ({}, "charged"),
        ({"charge_payment": [permanent("CardDeclined")]}, "declined"),
        ({"create_erp_order": [permanent("OrderExists")]}, "not_charged"),
        ({"reserve_inventory": [permanent("OutOfStock")]}, "charged"),
    ],
    ids=["charged", "declined", "failed before the charge", "charged, then compensated"],
)
async def test_the_payment_decision_is_answered_as_soon_as_the_charge_is_decided(
    time_skipping_env, task_queue, failures, outcome
):
    fakes = FakeServices(failures=failures, delays={"confirm_erp_order": 2.0})
    async with _worker(time_skipping_env, task_queue, fakes):
        # As the Order API asks (`Prefer: wait=payment`): the update arrives with the start, so the order knows from
        # its first step that a checkout waits, and ends the workflow task that decided the charge.
        order = make_order()
        start = WithStartWorkflowOperation(
            OrderWorkflow.run,
            order,
            id=order.workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
        decision = await time_skipping_env.client.execute_update_with_start_workflow(
            OrderWorkflow.payment_decision, start_workflow_operation=start
        )
        answered_before_the_end = "commit_inventory" not in fakes.calls
        await order_result(await start.workflow_handle())
    assert decision.outcome.value == outcome
    assert answered_before_the_end
    assert (decision.charge_id == "ch_fake") == (outcome == "charged")
    # With the order's progress as the decision left it: a checkout's answer needs no query after it.
    assert decision.progress is not None and decision.progress.payment == decision.decision
