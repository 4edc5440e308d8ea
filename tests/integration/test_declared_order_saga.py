"""The order saga declared in examples/sagas/order.yaml, run by the generic workflow against the real services: what
they recorded proves each outcome (one confirmed ERP order, one charge, a committed reservation; or nothing live)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError, RPCStatusCode

from clients.sagas import load_definition
from clients.sagas.runs import InvalidSagaInput, RunIdTaken, start_run, wait_for_run
from starters.replay import new_replayer
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.test_cli import _cadenza_async
from tests.unit.test_saga_examples import EXAMPLES
from workflows.declared_saga import DeclaredSagaWorkflow
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SagaState

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def order_saga_file() -> Path:
    return EXAMPLES / "order.yaml"


@pytest.fixture(scope="module")
def order_saga(order_saga_file: Path) -> SagaDefinition:
    return load_definition(order_saga_file)


def saga_input(token: str = "tok_visa", skus: tuple[str, ...] = ("SKU-BOOK", "SKU-MUG")) -> dict[str, Any]:
    """The order saga's input for a fresh order (examples/sagas/order.input.json's shape)."""
    order = make_order(token=token, skus=skus)
    sample = json.loads((EXAMPLES / "order.input.json").read_text())
    lines = [line.model_dump(mode="json") for line in order.lines]
    return {
        **sample,
        "order_id": order.order_id,
        "payment_token": token,
        "total_amount": order.total_amount,
        "lines": lines,
        "reservation_lines": [{"sku": line["sku"], "quantity": line["quantity"]} for line in lines],
    }


async def _nothing_live(harness: Harness, order_id: str) -> None:
    records = await harness.records.for_order(order_id)
    assert records.erp_order is None or records.erp_order["status"] == "cancelled", records.erp_order
    assert records.live_charges == []
    assert records.reservations_in("held", "committed") == []


async def test_the_declared_order_saga_completes_with_one_of_each(harness: Harness, order_saga: SagaDefinition):
    run_input = saga_input()
    started = await start_run(harness.client, order_saga, run_input, task_queue=harness.task_queue)
    view = await wait_for_run(harness.client, started.run_id)
    assert view.progress is not None and view.state == "completed", view.progress
    assert view.progress.completed_steps == [step.id for step in order_saga.steps]
    assert view.progress.content_hash == order_saga.content_hash
    records = await harness.records.for_order(run_input["order_id"])
    assert records.erp_order is not None and records.erp_order["status"] == "confirmed"
    [charge] = records.charges
    assert (charge["amount"], charge["status"], charge["refunded"]) == (run_input["total_amount"], "succeeded", False)
    assert [reservation["status"] for reservation in records.reservations] == ["committed"]
    assert view.progress.results["charge"]["id"] == charge["id"]


async def test_a_declined_card_compensates_and_leaves_nothing_live(harness: Harness, order_saga: SagaDefinition):
    run_input = saga_input(token="tok_chargeDeclined")
    started = await start_run(harness.client, order_saga, run_input, task_queue=harness.task_queue)
    progress = (await wait_for_run(harness.client, started.run_id)).progress
    assert progress is not None
    assert (progress.state, progress.failed_step, progress.error_type) == (
        SagaState.COMPENSATED,
        "charge",
        "CardDeclined",
    )
    await _nothing_live(harness, run_input["order_id"])
    records = await harness.records.for_order(run_input["order_id"])
    assert [charge["status"] for charge in records.charges] == ["failed"]  # a final answer is never retried
    assert records.reservations == []


async def test_the_same_input_attaches_and_another_is_refused(harness: Harness, order_saga: SagaDefinition):
    run_input = saga_input()
    first = await start_run(harness.client, order_saga, run_input, task_queue=harness.task_queue)
    again = await start_run(harness.client, order_saga, run_input, task_queue=harness.task_queue)
    assert (again.duplicate, again.run_id, again.handle.run_id) == (True, first.run_id, first.handle.result_run_id)
    with pytest.raises(RunIdTaken):
        await start_run(harness.client, order_saga, {**run_input, "total_amount": 1}, task_queue=harness.task_queue)
    assert (await wait_for_run(harness.client, first.run_id)).state == "completed"
    assert len((await harness.records.for_order(run_input["order_id"])).charges) == 1


async def test_an_input_the_schema_refuses_names_the_field(harness: Harness, order_saga: SagaDefinition):
    run_input = saga_input()
    del run_input["currency"]
    with pytest.raises(InvalidSagaInput, match="currency") as refused:
        await start_run(harness.client, order_saga, {**run_input, "total_amount": "42"}, task_queue=harness.task_queue)
    assert "total_amount" in str(refused.value) and refused.value.exit_code == 2


@pytest.mark.parametrize("order_id", ["f\U0007a325t", "a/b", "x" * 129, "two words"])
async def test_an_input_whose_run_id_cannot_be_a_key_is_refused_and_starts_nothing(
    harness: Harness, order_saga: SagaDefinition, order_id: str
):
    # Found by fuzzing the saga API: a non-ASCII id started a run whose every call failed to encode its idempotency
    # key header, retried forever. The id is a workflow id, a URL segment and the head of every key: refuse it early,
    # by the shipped definition's input schema and, for a definition whose schema does not say, by the id rule itself.
    run_input = {**saga_input(), "order_id": order_id}
    properties = {**order_saga.input_schema["properties"], "order_id": {"type": "string"}}
    loose = order_saga.model_copy(update={"input_schema": {**order_saga.input_schema, "properties": properties}})
    for definition, refusal in ((order_saga, "order_id"), (loose, "run id of saga order")):
        with pytest.raises(InvalidSagaInput, match=refusal) as refused:
            await start_run(harness.client, definition, run_input, task_queue=harness.task_queue)
        assert refused.value.exit_code == 2
    with pytest.raises(RPCError) as missing:
        await harness.client.get_workflow_handle(f"saga-order-order-{order_id}").describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_cancel_mid_run_compensates_what_was_done(harness: Harness, order_saga: SagaDefinition, no_faults):
    # The reservation commits, then its answer is held for 2 s; the cancel arrives meanwhile.
    run_input = saga_input()
    await harness.faults.set(
        "inventory", {"stall_ms": 2000, "script": [{"kind": "stall", "times": 1, "match": "/reserve/"}]}
    )
    started = await start_run(harness.client, order_saga, run_input, task_queue=harness.task_queue)
    for _ in range(100):
        if (await harness.records.for_order(run_input["order_id"])).reservations:
            break
        await asyncio.sleep(0.05)
    await started.handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await started.handle.result()
    progress = await started.handle.query(DeclaredSagaWorkflow.status)
    assert progress.state == SagaState.COMPENSATED and progress.reason == "cancelled on request"
    await _nothing_live(harness, run_input["order_id"])
    records = await harness.records.for_order(run_input["order_id"])
    assert [r["status"] for r in records.reservations] == ["released"]
    assert [c["refunded"] for c in records.charges] == [True]


async def test_a_charge_of_unknown_outcome_is_fenced_and_nothing_is_left_live(
    harness: Harness, order_saga: SagaDefinition, no_faults
):
    # Every charge request waits 9 s before it commits: the local attempt and the server attempt after it both give
    # up (at the 8 s HTTP deadline), the cancel then stops the step with its outcome unknown, and the undo fences the
    # charge's key before either could commit: whatever becomes of them, no charge is left.
    run_input = saga_input()
    await harness.faults.set(
        "payment", {"slow_commit_ms": 9000, "script": [{"kind": "slow_commit", "times": 2, "match": "/charge/"}]}
    )
    started = await start_run(harness.client, order_saga, run_input, task_queue=harness.task_queue)
    await asyncio.sleep(1.0)
    await started.handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await started.handle.result()
    progress = await started.handle.query(DeclaredSagaWorkflow.status)
    assert progress.state == SagaState.COMPENSATED and "charge" not in progress.completed_steps
    undo = {record.action: record for record in progress.compensations}["charge"]
    assert undo.undone is False and "fenced" in (undo.detail or "")
    await asyncio.sleep(5.0)  # past both slow commits
    await _nothing_live(harness, run_input["order_id"])
    assert (await harness.records.for_order(run_input["order_id"])).charges == []


async def test_cadenza_saga_run_wait_exits_0_and_status_shows_the_run(
    harness: Harness, order_saga_file: Path, tmp_path: Path
):
    input_file = tmp_path / "order.input.json"
    input_file.write_text(json.dumps(saga_input()))
    env = harness.config.client_env()
    ran = await _cadenza_async(["saga", "run", str(order_saga_file), "--input", str(input_file), "--wait"], env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "final state: completed" in ran.stdout
    run_id = next(line.split()[1] for line in ran.stderr.splitlines() if line.startswith("Run "))
    status = await _cadenza_async(["saga", "status", run_id], env)
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout and "commit_stock" in status.stdout
    # An ended run is neither cancelled nor retried: each command exits 1 saying why, and changes nothing.
    cancel = await _cadenza_async(["saga", "cancel", run_id], env)
    said = " ".join(cancel.stderr.split())  # rich wraps long lines
    assert cancel.returncode == 1 and "already ended (completed)" in said, cancel.stdout + cancel.stderr
    retry = await _cadenza_async(["saga", "retry-compensation", run_id], env)
    said = " ".join(retry.stderr.split())
    assert retry.returncode == 1 and "completed, not needs_attention" in said, retry.stdout + retry.stderr
    unknown = await _cadenza_async(["saga", "cancel", f"{run_id}-nothing"], env)
    assert unknown.returncode == 1 and "No saga run" in " ".join(unknown.stderr.split()), unknown.stderr


async def test_cadenza_saga_run_wait_exits_1_when_compensated(harness: Harness, order_saga_file: Path, tmp_path: Path):
    input_file = tmp_path / "declined.input.json"
    input_file.write_text(json.dumps(saga_input(token="tok_chargeDeclined")))
    ran = await _cadenza_async(
        ["saga", "run", str(order_saga_file), "--input", str(input_file), "--wait"], harness.config.client_env()
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "final state: compensated" in ran.stdout


async def test_cadenza_saga_run_refuses_a_definition_with_problems(harness: Harness, tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text((EXAMPLES / "order.yaml").read_text())  # no OpenAPI documents beside it
    input_file = tmp_path / "in.json"
    input_file.write_text(json.dumps(saga_input()))
    ran = await _cadenza_async(["saga", "run", str(broken), "--input", str(input_file)], harness.config.client_env())
    assert ran.returncode == 1 and "problem(s)" in ran.stderr, ran.stdout + ran.stderr
    assert "cannot read openapi/erp.json" in ran.stderr


async def test_runs_replay_as_the_worker_runs_them(harness: Harness, order_saga: SagaDefinition):
    # A completed run and a compensated one, replayed from their histories with the worker's replayer: the workflow
    # needs nothing but its history (the definition rides in its input).
    run_ids = []
    for token in ("tok_visa", "tok_chargeDeclined"):
        started = await start_run(harness.client, order_saga, saga_input(token), task_queue=harness.task_queue)
        await wait_for_run(harness.client, started.run_id)
        run_ids.append(started.run_id)
    replayer = new_replayer(converter=harness.config.data_converter())
    for run_id in run_ids:
        history = await harness.client.get_workflow_handle(run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{run_id}: {result.replay_failure}"


async def test_cadenza_saga_refuses_a_bad_input_and_an_unknown_run(harness: Harness, order_saga_file: Path, tmp_path):
    input_file = tmp_path / "bad.input.json"
    input_file.write_text(json.dumps({**saga_input(), "total_amount": "lots"}))
    env = harness.config.client_env()
    refused = await _cadenza_async(["saga", "run", str(order_saga_file), "--input", str(input_file)], env)
    assert refused.returncode == 2 and "total_amount" in refused.stderr, refused.stdout + refused.stderr
    missing = await _cadenza_async(["saga", "status", "saga-order-nobody"], env)
    assert missing.returncode == 1 and "No saga run 'saga-order-nobody'" in missing.stderr, missing.stderr
