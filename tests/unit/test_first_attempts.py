"""First attempts together (workflows/first_attempts.py): a happy order's calls made by one local activity, each step
taking its call's outcome from it — a result, a failure handled as its local attempt's, or nothing (never made)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from activities.first_attempts import make_first_attempts
from starters.replay import new_replayer
from tests.conftest import make_order
from tests.history_helpers import patch_ids, scheduled_activities
from tests.unit.fakes import FakeServices, permanent, unavailable
from tests.unit.production_worker import production_worker, result_of
from workflows.first_attempts import LOCAL_ATTEMPT_TIMED_OUT, FillFrom, FirstAttempts, FirstCall
from workflows.models import RISK_CHECK_THRESHOLD, OrderState, Step
from workflows.order import FIRST_ATTEMPTS_TOGETHER_PATCH, OrderWorkflow

FORWARD = ["create_erp_order", "charge_payment", "reserve_inventory", "confirm_erp_order", "commit_inventory"]
UNDO_ALL = ["release_inventory", "refund_payment", "cancel_erp_order"]


async def _run(env, task_queue: str, fakes: FakeServices, **order: Any) -> tuple[Any, Any]:
    placed = make_order(**order)
    async with production_worker(env.client, task_queue, fakes.activities()):
        handle: WorkflowHandle = await env.client.start_workflow(
            OrderWorkflow.run, placed, id=placed.workflow_id, task_queue=task_queue
        )
        result = await result_of(handle)
        history = await handle.fetch_history()
    await new_replayer().replay_workflow(history)
    return result, history


async def test_a_happy_order_makes_its_five_calls_in_one_local_activity(time_skipping_env, task_queue):
    fakes = FakeServices()
    result, history = await _run(time_skipping_env, task_queue, fakes)
    assert result.state == OrderState.COMPLETED and result.completed_steps == list(Step)
    assert fakes.batches == [FORWARD] and fakes.calls == FORWARD
    assert scheduled_activities(history) == ["first_attempts"]
    assert patch_ids(history) == [FIRST_ATTEMPTS_TOGETHER_PATCH]  # one marker: it implies every earlier patch
    # The commit names the reservation the batch's own reservation answered.
    [commit] = [argument for name, argument in fakes.arguments if name == "commit_inventory"]
    assert commit["reservation_id"] == "res_fake" and result.reservation_id == "res_fake"
    # Every call has its own key, as it has when made on its own.
    keys = [argument["idempotency_key"] for _, argument in fakes.arguments]
    assert len(set(keys)) == 5 and all(key.startswith(f"order-{result.order_id}/") for key in keys)


async def test_a_final_failure_in_the_batch_stops_it_and_compensates_everything(time_skipping_env, task_queue):
    fakes = FakeServices(failures={"charge_payment": [permanent()]})
    result, history = await _run(time_skipping_env, task_queue, fakes)
    assert result.state == OrderState.COMPENSATED and result.failed_step == Step.CHARGE_PAYMENT
    assert result.error_type == "CardDeclined"
    # Nothing after the declined charge was called; every key is fenced.
    assert fakes.calls == ["create_erp_order", "charge_payment", *UNDO_ALL]
    assert scheduled_activities(history) == ["first_attempts", *UNDO_ALL]


async def test_a_retryable_failure_in_the_batch_goes_to_the_server_with_its_key_and_the_rest_run_local_first(
    time_skipping_env, task_queue
):
    fakes = FakeServices(failures={"charge_payment": [unavailable()]})
    result, history = await _run(time_skipping_env, task_queue, fakes)
    assert result.state == OrderState.COMPLETED
    assert fakes.calls == ["create_erp_order", "charge_payment", *FORWARD[1:]]
    charges = [argument["idempotency_key"] for name, argument in fakes.arguments if name == "charge_payment"]
    assert len(charges) == 2 and charges[0] == charges[1]
    # The batch, the charge on the server (after its backoff), then each later call's own local attempt.
    assert scheduled_activities(history) == ["first_attempts", *FORWARD[1:]]
    assert fakes.batches == [FORWARD]


async def test_a_cancel_during_the_batch_lets_it_finish_its_calls_then_undoes_them_all(time_skipping_env, task_queue):
    # Shielded like a local attempt (workflows/steps.py, despite_cancellation): a cancel does not abort the batch; it
    # makes its calls to the end, then every one is undone.
    fakes = FakeServices(delays={"create_erp_order": 0.2})
    placed = make_order()
    async with production_worker(time_skipping_env.client, task_queue, fakes.activities()):
        handle: WorkflowHandle = await time_skipping_env.client.start_workflow(
            OrderWorkflow.run, placed, id=placed.workflow_id, task_queue=task_queue
        )
        await asyncio.wait_for(fakes.started["create_erp_order"].wait(), timeout=10)
        await handle.cancel()
        # Not `result_of`: the server refuses the task that ran the batch (the cancel arrived meanwhile, an "unhandled
        # command"), and the order runs again from its start with the cancel first — a failed task that is no bug.
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress = await handle.query(OrderWorkflow.status)
    assert progress.state == OrderState.COMPENSATED and progress.failed_step == Step.CREATE_ERP_ORDER
    # The batch twice: in the task the server refused, and in the run that counted, which had the cancel before its
    # first await and still made its batch to the end (shielded, not aborted), with the same keys (replays at a real
    # service); then every undo.
    assert fakes.calls == [*FORWARD, *FORWARD, *UNDO_ALL]
    keys = [argument["idempotency_key"] for name, argument in fakes.arguments if name in FORWARD]
    assert keys[: len(FORWARD)] == keys[len(FORWARD) :]


async def test_an_order_with_a_risk_check_calls_one_by_one(time_skipping_env, task_queue):
    fakes = FakeServices()
    result, history = await _run(time_skipping_env, task_queue, fakes, unit_price=RISK_CHECK_THRESHOLD // 2)
    assert result.state == OrderState.COMPLETED
    assert fakes.batches == []
    assert scheduled_activities(history)[:3] == ["create_erp_order", "assess_risk", "charge_payment"]


# ---- the activity ------------------------------------------------------------------------------------------------


class _In(BaseModel):
    value: str


class _Out(BaseModel):
    value: str


def _batch(*calls: FirstCall, timeout_ms: int = 300) -> FirstAttempts:
    return FirstAttempts(calls=list(calls), call_timeout_ms=timeout_ms)


def _call(name: str, value: str = "", **extra: Any) -> FirstCall:
    return FirstCall.of(name, _In(value=value), f"call {name}", **extra)


class _Calls:
    def __init__(self, behaviour: dict[str, Any] | None = None) -> None:
        self.made: list[tuple[str, str]] = []
        self.behaviour = behaviour or {}

    def table(self, *names: str) -> dict[str, Any]:
        def make(name: str) -> Any:
            async def call(arg: _In) -> Any:
                self.made.append((name, arg.value))
                what = self.behaviour.get(name)
                if isinstance(what, BaseException):
                    raise what
                if isinstance(what, float):
                    await asyncio.sleep(what)
                if isinstance(what, dict):
                    return what
                return _Out(value=f"{name}:{arg.value}")

            return call

        return {name: make(name) for name in names}


async def _make(batch: FirstAttempts, calls: _Calls, *names: str) -> Any:
    models = dict.fromkeys(names, _In)
    return await make_first_attempts(batch, calls.table(*names), models, dict.fromkeys(names, _Out))


async def test_the_batch_makes_its_calls_in_order_and_fills_an_input_from_an_earlier_answer():
    calls = _Calls()
    done = await _make(
        _batch(_call("a", "1"), _call("b", fill={"value": FillFrom(ref="a", field="value")})), calls, "a", "b"
    )
    assert calls.made == [("a", "1"), ("b", "a:1")]
    assert [outcome.result for outcome in done.outcomes] == [{"value": "a:1"}, {"value": "b:a:1"}]
    assert all(outcome.failure is None and outcome.took_ms >= 0 for outcome in done.outcomes)


async def test_the_batch_stops_at_the_first_failure_and_keeps_how_it_failed():
    delay = ApplicationError("busy", {"status": 429}, type="RateLimited", next_retry_delay=None)
    calls = _Calls({"b": delay})
    done = await _make(_batch(_call("a"), _call("b"), _call("c")), calls, "a", "b", "c")
    assert [name for name, _ in calls.made] == ["a", "b"]
    [ok, failed] = done.outcomes
    assert ok.failure is None and failed.failure is not None
    error = failed.failure.error()
    assert (error.type, error.message, error.non_retryable, list(error.details)) == (
        "RateLimited",
        "busy",
        False,
        [{"status": 429}],
    )


async def test_calls_made_together_are_both_over_before_the_batch_stops():
    calls = _Calls({"b": permanent(), "c": 0.05})
    done = await _make(_batch(_call("a"), _call("b"), _call("c", with_previous=True), _call("d")), calls, *"abcd")
    assert sorted(name for name, _ in calls.made) == ["a", "b", "c"]
    assert [outcome.ref for outcome in done.outcomes] == ["a", "b", "c"]
    assert done.outcomes[1].failure is not None and done.outcomes[1].failure.non_retryable
    assert done.outcomes[2].failure is None


async def test_a_call_past_its_deadline_is_a_retryable_timeout_and_ends_the_batch():
    calls = _Calls({"a": 1.0})
    done = await _make(_batch(_call("a"), _call("b"), timeout_ms=50), calls, "a", "b")
    [timed_out] = done.outcomes
    assert timed_out.failure is not None and timed_out.failure.type == LOCAL_ATTEMPT_TIMED_OUT
    assert not timed_out.failure.non_retryable and [name for name, _ in calls.made] == ["a"]


async def test_an_answer_the_workflow_cannot_decode_ends_the_batch_so_that_nothing_follows_a_bug():
    calls = _Calls({"a": {"unexpected": True}})
    done = await _make(_batch(_call("a"), _call("b")), calls, "a", "b")
    assert [name for name, _ in calls.made] == ["a"] and done.outcomes[0].result == {"unexpected": True}


async def test_an_unexpected_error_is_a_retryable_failure_not_a_lost_batch():
    calls = _Calls({"a": RuntimeError("connection reset")})
    done = await _make(_batch(_call("a"), _call("b")), calls, "a", "b")
    [failed] = done.outcomes
    assert failed.failure is not None and failed.failure.type == "RuntimeError" and not failed.failure.non_retryable
