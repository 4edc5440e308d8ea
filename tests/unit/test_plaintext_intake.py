"""With encryption required, a worker refuses what arrives unencrypted (issue 21, High: `temporal workflow update
execute --name review --input '{"decision":"approve","reviewer":"mallory"}'`, with no key, approved an order held
for fraud review). Refused where it is accepted — an update in validation, a start by failing it at once — so that
histories from before encryption keep replaying (tests/replay/test_plaintext_histories.py).

Written with what the code had before the refusal existed, so each test also runs, and fails, against it."""

from __future__ import annotations

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from starters.replay import new_replayer
from tests.conftest import make_order
from tests.history_helpers import scheduled_activities, updates_recorded
from tests.unit.fakes import FakeServices
from tests.unit.test_manual_review import REFERRED, _awaiting_review, _start
from tests.unit.test_order_workflow import _worker
from workflows.models import RISK_CHECK_THRESHOLD, OrderState
from workflows.order import OrderWorkflow


@pytest.fixture
def encryption_required(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read when the worker is built: it then refuses what arrives unencrypted.
    monkeypatch.setenv("CADENZA_ENCRYPTION", "required")


def _without_keys(client: Client) -> Client:
    """A client as the `temporal` CLI is one: same server, the SDK's JSON converter, no codec, no keys."""
    return Client(client.service_client, namespace=client.namespace, data_converter=pydantic_data_converter)


async def test_a_plaintext_review_sent_straight_to_temporal_is_refused_and_changes_nothing(
    time_skipping_env, task_queue, encryption_required
):
    fakes = FakeServices(results=REFERRED)
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        mallory = _without_keys(time_skipping_env.client).get_workflow_handle(handle.id)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            # RawValue: an answer would be encrypted, and Mallory has no key to read it with.
            await mallory.execute_update("review", {"decision": "approve", "reviewer": "mallory"}, result_type=RawValue)
        progress = await handle.query(OrderWorkflow.status)
        history = await handle.fetch_history()
        await handle.terminate()  # left open, its deadline would hold up time skipping for the tests after it
    # Readable by its sender, who has no keys: the reason is not encrypted.
    assert "arrived unencrypted" in str(refused.value.cause) and "--codec-endpoint" in str(refused.value.cause)
    assert progress.state == OrderState.AWAITING_REVIEW and progress.review.outcome is None
    assert updates_recorded(history) == []
    assert fakes.calls == ["create_erp_order", "assess_risk"]  # nothing charged


async def test_a_plaintext_start_is_refused_when_encryption_is_required_and_its_history_replays(
    time_skipping_env, task_queue, encryption_required
):
    order = make_order(unit_price=RISK_CHECK_THRESHOLD)
    fakes = FakeServices()
    async with _worker(time_skipping_env, task_queue, fakes):
        mallory = _without_keys(time_skipping_env.client)
        handle = await mallory.start_workflow(
            "OrderWorkflow",
            order.model_dump(mode="json"),
            id=order.workflow_id,
            task_queue=task_queue,
            result_type=RawValue,
        )
        with pytest.raises(WorkflowFailureError) as refused:
            await handle.result()
        history = await handle.fetch_history()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PlaintextRefused", cause
    assert "arrived unencrypted" in str(cause)
    assert fakes.calls == [] and scheduled_activities(history) == []  # nothing reached a service
    # Replays as refused, on a worker that requires encryption or not (the refusal is recorded as a patch marker).
    await new_replayer().replay_workflow(history)
