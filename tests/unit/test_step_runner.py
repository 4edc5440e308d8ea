"""The step runner (workflows/steps.py) on its own: a two-step saga with string names and dict inputs
(tests/unit/two_step_saga.py) on the time-skipping test server, against fake services that keep what each key did."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.unit.production_worker import result_of
from tests.unit.two_step_saga import Progress, Trip, TwoStepSaga
from workflows.models import CompensationOutcome, CompensationStatus


class Services:
    """What the downstream services committed, by idempotency key, and every call in the order it arrived."""

    def __init__(self, *, lose_pay_reply: bool = False, refusals_of_refund: int = 0) -> None:
        self.committed: dict[str, str] = {}
        self.calls: list[str] = []
        self.pay_started = asyncio.Event()
        self.pay_may_answer = asyncio.Event()
        self.pay_may_answer.set()
        self._lose_pay_reply = lose_pay_reply
        self._refusals_of_refund = refusals_of_refund

    def activities(self) -> list[Any]:
        @activity.defn(name="book")
        async def book(arg: dict[str, Any]) -> dict[str, Any]:
            return self._commit("book", arg)

        @activity.defn(name="pay")
        async def pay(arg: dict[str, Any]) -> dict[str, Any]:
            self.pay_started.set()
            await self.pay_may_answer.wait()
            answer = self._commit("pay", arg)
            if self._lose_pay_reply:
                # Committed, but the workflow never hears so: what a reply lost on the way back looks like to it.
                raise ApplicationError("connection reset after the request was sent", non_retryable=True)
            return answer

        @activity.defn(name="unbook")
        async def unbook(fence: dict[str, Any]) -> CompensationOutcome:
            return self._undo("unbook", fence)

        @activity.defn(name="refund")
        async def refund(fence: dict[str, Any]) -> CompensationOutcome:
            if self._refusals_of_refund:
                self._refusals_of_refund -= 1
                self.calls.append("refund refused")
                raise ApplicationError("refunds are switched off", type="RefundRefused", non_retryable=True)
            return self._undo("refund", fence)

        return [book, pay, unbook, refund]

    def _commit(self, what: str, arg: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(what)
        self.committed[arg["key"]] = what
        return {"id": arg["key"]}

    def _undo(self, what: str, fence: dict[str, Any]) -> CompensationOutcome:
        self.calls.append(what)
        undone = self.committed.pop(fence["step_key"], None)
        return CompensationOutcome(undone=undone is not None, detail=f"{what}: {undone or 'nothing to undo'}")


async def _start(env, services: Services, trip: Trip) -> tuple[Worker, WorkflowHandle[TwoStepSaga, Progress]]:
    task_queue = f"steps-{uuid.uuid4().hex}"
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[TwoStepSaga],
        activities=services.activities(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    handle = await env.client.start_workflow(
        TwoStepSaga.run, trip, id=f"trip-{uuid.uuid4().hex}", task_queue=task_queue
    )
    return worker, handle


async def _cancel_while_paying(handle: WorkflowHandle[TwoStepSaga, Progress], services: Services) -> None:
    """Cancel the saga while its payment is in flight, and wait until the workflow asked to cancel the payment:
    answering before would race the request (the time-skipping server then refuses the workflow task that asks to
    cancel an activity already over)."""
    await asyncio.wait_for(services.pay_started.wait(), 10)
    await handle.cancel()
    for _ in range(200):
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never asked to cancel its payment")


async def _until(handle: WorkflowHandle[TwoStepSaga, Progress], state: str) -> Progress:
    for _ in range(200):
        progress = await handle.query(TwoStepSaga.progress)
        if progress.state == state:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached {state}")


@pytest.mark.parametrize("local_first", [False, True], ids=["server", "local-first"])
async def test_a_step_whose_reply_was_lost_is_undone_because_its_undo_was_registered_before_it_ran(
    time_skipping_env, local_first
):
    services = Services(lose_pay_reply=True)
    worker, handle = await _start(time_skipping_env, services, Trip("lisbon", local_first=local_first))
    async with worker:
        progress = await result_of(handle)
    assert progress.state == "compensated"
    assert progress.completed_steps == ["book"]
    # The payment failed as far as the workflow knows, yet its refund ran with the payment's own key and undid it.
    assert services.calls == ["book", "pay", "refund", "unbook"]
    assert [(r.action, r.status, r.undone) for r in progress.compensations] == [
        ("refund", CompensationStatus.DONE, True),
        ("unbook", CompensationStatus.DONE, True),
    ]
    assert services.committed == {}
    assert "step_failed pay" in progress.events


async def test_compensations_run_newest_first_to_the_end_despite_cancels(time_skipping_env):
    services = Services()
    services.pay_may_answer.clear()
    worker, handle = await _start(time_skipping_env, services, Trip("oslo"))
    async with worker:
        await _cancel_while_paying(handle, services)
        await handle.cancel()  # a second cancel changes nothing either
        # The payment in flight still finishes (its request may commit), and only then is it undone.
        services.pay_may_answer.set()
        with pytest.raises(WorkflowFailureError) as failure:
            await result_of(handle)
        progress = await handle.query(TwoStepSaga.progress)  # a closed execution's query needs a worker to answer
    assert isinstance(failure.value.cause, CancelledError)
    assert services.calls == ["book", "pay", "refund", "unbook"]
    assert services.committed == {}
    assert progress.state == "compensated"
    assert progress.events[-4:] == [
        "compensation_started refund",
        "compensation_done refund",
        "compensation_started unbook",
        "compensation_done unbook",
    ]


async def test_a_compensation_that_keeps_failing_waits_for_an_operator_then_runs_again(time_skipping_env):
    services = Services(refusals_of_refund=1)
    services.pay_may_answer.clear()
    worker, handle = await _start(time_skipping_env, services, Trip("rome"))
    async with worker:
        await _cancel_while_paying(handle, services)
        services.pay_may_answer.set()
        stuck = await _until(handle, "needs_attention")
        # Every compensation was attempted; the failed one is kept, visible, and not retried on its own.
        assert [(r.action, r.status) for r in stuck.compensations] == [
            ("refund", CompensationStatus.FAILED),
            ("unbook", CompensationStatus.DONE),
        ]
        assert services.committed != {}
        await handle.execute_update(TwoStepSaga.retry)
        with pytest.raises(WorkflowFailureError):
            await result_of(handle)
        progress = await handle.query(TwoStepSaga.progress)
    assert services.calls == ["book", "pay", "refund refused", "unbook", "refund"]
    assert services.committed == {}
    assert [(r.action, r.status) for r in progress.compensations] == [
        ("refund", CompensationStatus.DONE),
        ("unbook", CompensationStatus.DONE),
    ]
