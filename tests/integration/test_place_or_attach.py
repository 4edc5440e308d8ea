"""Placing an order id again: the same body attaches to the order, another body is refused and changes nothing —
also for executions started before fingerprints were kept in the memo (compared by their recorded input)."""

from __future__ import annotations

import pytest
from temporalio.common import WorkflowIDReusePolicy

from clients.orders import FINGERPRINT_MEMO, OrderIdTaken, ensure_same_order, place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.conftest import Harness
from workflows.models import OrderState
from workflows.order import OrderWorkflow

pytestmark = pytest.mark.integration


async def test_the_same_body_attaches_and_another_is_refused(harness: Harness):
    order = make_order()
    first = await place_order(harness.client, order, task_queue=harness.task_queue)
    again = await place_order(harness.client, order, task_queue=harness.task_queue)
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.handle.id == first.handle.id

    other = order.model_copy(update={"customer_id": "c-other"})
    with pytest.raises(OrderIdTaken) as refused:
        await place_order(harness.client, other, task_queue=harness.task_queue)
    assert refused.value.order_id == order.order_id and order.describe() in str(refused.value)
    assert (await wait_for_result(first.handle)).state == OrderState.COMPLETED
    assert len((await harness.records.for_order(order.order_id)).charges) == 1


async def test_an_execution_without_a_fingerprint_is_compared_by_its_recorded_input(harness: Harness):
    order = make_order()
    # As orders were started before the fingerprint memo existed.
    handle = await harness.client.start_workflow(
        OrderWorkflow.run,
        order,
        id=order.workflow_id,
        task_queue=harness.task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    description = await handle.describe()
    assert await description.memo_value(FINGERPRINT_MEMO, None) is None

    assert await ensure_same_order(harness.client, handle, order, description) is description
    with pytest.raises(OrderIdTaken):
        await ensure_same_order(harness.client, handle, order.model_copy(update={"customer_id": "c-other"}))
    await wait_for_result(handle)
