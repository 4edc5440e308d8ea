"""The workflow unit tests run OrderWorkflow under production's failure semantics: an exception in workflow code
fails the workflow task, which the server retries, and the order stays open for a fixed worker to finish; it never
fails the order. (The SDK's test habit, `workflow_failure_exception_types=[Exception]`, would fail it instead.)"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.conftest import make_order
from tests.unit.fakes import FakeServices
from tests.unit.production_worker import WorkflowTaskFailed, production_worker, result_of
from workflows.order import OrderWorkflow


async def test_a_result_the_workflow_cannot_decode_fails_the_task_and_leaves_the_order_open(
    time_skipping_env, task_queue
):
    # The charge answers in a shape `ChargeRecord` refuses: to workflow code that is an exception like any bug.
    fakes = FakeServices(results={"charge_payment": lambda: {"charge": "ch_1"}})
    order = make_order()
    async with production_worker(time_skipping_env.client, task_queue, fakes.activities()):
        handle = await time_skipping_env.client.start_workflow(
            OrderWorkflow.run, order, id=order.workflow_id, task_queue=task_queue
        )
        with pytest.raises(WorkflowTaskFailed, match="ChargeRecord"):
            await result_of(handle)
        description = await handle.describe()
        await handle.terminate("test over")
    assert description.status == WorkflowExecutionStatus.RUNNING  # the order waits for a fix; nothing failed it
    # And no compensation ran for a bug. Local first attempts (workflows/order.py) are recorded with the task that ran
    # them, so each retry of the failing task makes them again — with the same idempotency keys: replays, no new effect.
    assert fakes.calls[:2] == ["create_erp_order", "charge_payment"]
    assert set(fakes.calls) == {"create_erp_order", "charge_payment"}
