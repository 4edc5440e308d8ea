"""A step whose idempotency profile says "replay unsafe" (`cadenza verify` found the API re-executes a retried key) is
not retried after an ambiguous failure: the saga compensates by lookup and the payment service records one charge,
refunded. The same stall without the profile charges twice — what the profile is for."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.http import new_http_client
from activities.operation_calls import OUTCOME_UNKNOWN, OperationCalls
from cadenza.processes import free_port
from cadenza.settings import ServiceEndpoint
from clients.sagas.runs import start_run, wait_for_run
from starters.replay import new_replayer
from starters.saga_examples import order_with_unsafe_charge
from tests.integration.conftest import Harness
from tests.integration.test_declared_order_saga import saga_input
from workflows.at_most_once import NOT_APPLIED
from workflows.saga_run_models import OperationCall

pytestmark = pytest.mark.integration

# The worker's HTTP read timeout is 5 s (activities/http.py): a longer stall makes the charge's outcome ambiguous.
STALLED_CHARGE = {
    "idempotency": "ignore_keys",
    "stall_ms": 6500,
    "script": [{"kind": "stall", "match": "/charges", "times": 1}],
}


@pytest.mark.usefixtures("no_faults")
async def test_a_replay_unsafe_charge_is_not_retried_after_a_stall(harness: Harness, tmp_path: Path):
    definition = order_with_unsafe_charge({"replay": "unsafe"})
    assert definition.step("charge").replay_unsafe
    await harness.faults.set("payment", STALLED_CHARGE)
    run_input = saga_input()
    started = await start_run(harness.client, definition, run_input, task_queue=harness.task_queue)
    view = await wait_for_run(harness.client, started.run_id)
    assert view.progress is not None
    assert (view.state, view.progress.failed_step, view.progress.error_type) == (
        "compensated",
        "charge",
        "OutcomeUnknown",
    ), view.progress
    records = await harness.records.for_order(run_input["order_id"])
    [charge] = records.charges  # never a second effect
    assert charge["refunded"], charge  # found by the lookup, undone
    assert records.live_charges == []
    # The new path is deterministic: its history replays against this code.
    history = await harness.client.get_workflow_handle(started.run_id).fetch_history()
    replayed = await new_replayer(converter=harness.config.data_converter()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None, replayed.replay_failure


@pytest.mark.usefixtures("no_faults")
async def test_without_the_profile_the_same_stall_charges_twice(harness: Harness, tmp_path: Path):
    """The control: the API ignores keys, the runtime believes it replays them, and the retry charges again."""
    definition = order_with_unsafe_charge()
    assert not definition.step("charge").replay_unsafe
    await harness.faults.set("payment", STALLED_CHARGE)
    run_input = saga_input()
    started = await start_run(harness.client, definition, run_input, task_queue=harness.task_queue)
    view = await wait_for_run(harness.client, started.run_id)
    assert view.state == "completed", view.progress
    records = await harness.records.for_order(run_input["order_id"])
    assert len(records.succeeded_charges) == 2


async def test_the_activity_makes_only_a_possibly_applied_failure_final(harness: Harness):
    """A read timeout (the request reached the service) is final for a replay-unsafe call; a refused connection (it
    never did) stays retryable, as does any failure of a call whose replay is safe."""
    endpoints = harness.config.endpoints()
    closed = ServiceEndpoint("nowhere", f"http://127.0.0.1:{free_port()}", "unused")
    http = new_http_client(traced=False)  # the worker's client: its 5 s read timeout is what the stall outlasts
    calls = OperationCalls(http, {**endpoints, "nowhere": closed})
    charge = OperationCall(
        service="payment",
        operation="createCharge",
        method="POST",
        path="/charges",
        body={
            "order_id": f"unsafe-{uuid.uuid4().hex[:8]}",
            "amount": 100,
            "currency": "EUR",
            "payment_token": "tok_visa",
        },
        key_header="Idempotency-Key",
        key=f"unsafe-{uuid.uuid4()}",
        replay_unsafe=True,
    )
    await harness.faults.set("payment", {"stall_ms": 6500, "script": [{"kind": "stall", "match": "/charges"}]})
    try:
        with pytest.raises(ApplicationError) as stalled:
            await calls.call(charge)
    finally:
        await harness.faults.set("payment", {})
    assert (stalled.value.type, stalled.value.non_retryable) == (OUTCOME_UNKNOWN, True)

    with pytest.raises(ApplicationError) as refused:
        await calls.call(charge.model_copy(update={"service": "nowhere"}))
    assert (refused.value.type, refused.value.non_retryable) == ("ServiceUnreachable", False)
    assert refused.value.details[-1] == NOT_APPLIED  # the workflow may send it again (workflows/at_most_once.py)
    await http.aclose()
