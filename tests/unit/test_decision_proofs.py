"""A review decision carries a door's proof, and the worker refuses any proof that does not vouch for exactly this
decision on exactly this order, with a key it holds, once (issue 21, High: decisions must not be forgeable by whoever
reaches Temporal). Every refusal leaves the order in awaiting_review with no update in its history."""

from __future__ import annotations

import base64
import secrets

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError

from cadenza.codec import KeyRing
from cadenza.decision_keys import decision_keys
from clients.orders import DecisionNotAccepted, send_review, signed
from tests.history_helpers import updates_recorded
from tests.unit.fakes import FakeServices
from tests.unit.production_worker import result_of
from tests.unit.test_manual_review import REFERRED, _approve, _awaiting_review, _start
from tests.unit.test_order_workflow import _worker
from workflows.models import OrderState, ReviewDecision
from workflows.order import REVIEW_UPDATE, OrderWorkflow


def _another_key(key_id: str) -> KeyRing:
    return KeyRing.parse(f"{key_id}={base64.b64encode(secrets.token_bytes(32)).decode()}", source="test")


async def _refused(handle: WorkflowHandle, decision: ReviewDecision) -> str:
    """Send `decision` as it is (already signed, or not) and return why the worker refused it."""
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(OrderWorkflow.review, decision)
    return str(refused.value.cause)


async def _nothing_decided(handle: WorkflowHandle) -> None:
    progress = await handle.query(OrderWorkflow.status)
    assert progress.state == OrderState.AWAITING_REVIEW and progress.review.outcome is None
    assert updates_recorded(await handle.fetch_history()) == []


async def _a_door_decides(*handles: WorkflowHandle) -> None:
    """A door's own approval goes through after the refusals, and the orders close: one left open would hold up time
    skipping for the tests after it. All sent before any result is awaited, which lets the server skip time."""
    for handle in handles:
        await send_review(handle, _approve())
    for handle in handles:
        assert (await result_of(handle)).state == OrderState.COMPLETED


async def test_a_decision_signed_with_a_key_the_workers_do_not_hold_is_refused(time_skipping_env, task_queue):
    held = decision_keys().active_id
    async with _worker(time_skipping_env, task_queue, FakeServices(results=REFERRED)):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        under_the_same_id = signed(REVIEW_UPDATE, handle.id, _approve(), keys=_another_key(held))
        under_another_id = signed(REVIEW_UPDATE, handle.id, _approve(), keys=_another_key("stolen-1"))
        mismatch = await _refused(handle, under_the_same_id)
        unknown = await _refused(handle, under_another_id)
        with pytest.raises(DecisionNotAccepted) as door:  # what the CLI and the API then say
            await send_review(handle, _approve(), keys=_another_key(held))
        await _nothing_decided(handle)
        await _a_door_decides(handle)
    assert "signature does not match" in mismatch and "Nothing was decided" in mismatch
    assert "'stolen-1', which this worker does not hold" in unknown and held in unknown
    assert "signature does not match" in str(door.value)


async def test_a_proof_signed_for_another_order_or_another_decision_is_refused(time_skipping_env, task_queue):
    async with _worker(time_skipping_env, task_queue, FakeServices(results=REFERRED)):
        # One after the other, as test_manual_review.py's _awaiting_review asks.
        mine = await _start(time_skipping_env, task_queue)
        await _awaiting_review(mine)
        theirs = await _start(time_skipping_env, task_queue)
        await _awaiting_review(theirs)
        for_theirs = signed(REVIEW_UPDATE, theirs.id, _approve())
        replayed = await _refused(mine, for_theirs)
        altered = await _refused(theirs, for_theirs.model_copy(update={"reviewer": "mallory"}))
        await _nothing_decided(mine)
        await _nothing_decided(theirs)
        await _a_door_decides(mine, theirs)
    assert "signature does not match" in replayed and "signed for another order" in replayed
    assert "signature does not match" in altered


async def test_a_proof_already_used_on_an_order_is_refused(time_skipping_env, task_queue):
    # A slow charge keeps the approved order open while the same signed decision is sent once more.
    fakes = FakeServices(results=REFERRED, delays={"charge_payment": 1.0})
    async with _worker(time_skipping_env, task_queue, fakes):
        handle = await _start(time_skipping_env, task_queue)
        await _awaiting_review(handle)
        approval = signed(REVIEW_UPDATE, handle.id, _approve())
        await handle.execute_update(OrderWorkflow.review, approval)
        again = await _refused(handle, approval)
        await result_of(handle)
    assert "this proof was used before" in again
