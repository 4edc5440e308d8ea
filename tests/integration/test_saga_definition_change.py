"""A saga definition changed (a step added) while 20 runs are in flight: each run keeps the definition it started with
(it rides in the run's input), so the old runs finish on the old steps and make no call of the new one, the new runs
take the new step, and both kinds replay with the worker's replayer."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import yaml

from clients.sagas import load_definition
from clients.sagas.runs import StartedRun, start_run, wait_for_run
from starters.replay import new_replayer
from starters.saga_examples import order_input
from tests.integration.conftest import Harness
from tests.unit.test_saga_examples import EXAMPLES
from workflows.declared_saga import DeclaredSagaWorkflow
from workflows.saga_definition import SagaDefinition

pytestmark = pytest.mark.integration

IN_FLIGHT, STARTED_AFTER = 20, 5
# The step the change adds: a second charge (shipping), so the payment service's records tell the two kinds apart.
SHIPPING = {
    "id": "charge_shipping",
    "call": "payment.createCharge",
    "request": {
        "body": {
            "order_id": "${input.order_id}",
            "amount": 500,
            "currency": "${input.currency}",
            "payment_token": "${input.payment_token}",
        }
    },
    "undo": {
        "call": "payment.fence",
        "request": {"body": {"key": "${steps.charge_shipping.key}"}},
        "when_unknown": "fence",
    },
}


def _write(path: Path, declaration: dict) -> SagaDefinition:
    path.write_text(yaml.safe_dump(declaration, sort_keys=False))
    return load_definition(path)


async def _all_past(runs: list[StartedRun], step: str) -> None:
    async with asyncio.timeout(30):
        for run in runs:
            while True:
                progress = await run.handle.query(DeclaredSagaWorkflow.status)
                if progress.current_step == step or step in progress.completed_steps:
                    break
                await asyncio.sleep(0.05)


async def test_runs_in_flight_finish_on_their_definition_when_it_changes(harness: Harness, tmp_path: Path, no_faults):
    (tmp_path / "openapi").symlink_to(EXAMPLES / "openapi")
    saga_file = tmp_path / "order.yaml"
    declaration = yaml.safe_load((EXAMPLES / "order.yaml").read_text())
    before = _write(saga_file, declaration)
    tag = f"chg-{uuid.uuid4().hex[:6]}"
    # Every old run's reservation is refused (503, nothing applied; retried with backoff) until the test lets it
    # through: all 20 are mid-run, charged and not reserved, when the file changes, however slow the machine. (A
    # commit-then-stall for a fixed time ended before a loaded machine had started and queried all 20.)
    old_runs = f"{tag}-old"
    await harness.faults.script("inventory", "error", times=100_000, match=old_runs)
    start = lambda definition, order_id: start_run(  # noqa: E731
        harness.client, definition, order_input(order_id), task_queue=harness.task_queue
    )
    old = list(await asyncio.gather(*(start(before, f"{old_runs}-{i}") for i in range(IN_FLIGHT))))
    await _all_past(old, "reserve")

    after = _write(saga_file, {**declaration, "steps": [*declaration["steps"], SHIPPING]})
    assert after.content_hash != before.content_hash
    # Still in flight when the file changed (their reservations refused until now).
    assert {(await run.handle.query(DeclaredSagaWorkflow.status)).state for run in old} == {"running"}
    await harness.faults.unscript("inventory", old_runs)
    new = list(await asyncio.gather(*(start(after, f"{tag}-new-{i}") for i in range(STARTED_AFTER))))

    for runs, definition, charges in ((old, before, 1), (new, after, 2)):
        for run in runs:
            progress = (await wait_for_run(harness.client, run.run_id)).progress
            assert progress is not None and progress.state == "completed", (run.run_id, progress)
            assert progress.content_hash == definition.content_hash
            assert progress.completed_steps == [step.id for step in definition.steps]
            order_id = run.run_id.removeprefix("saga-order-order-")
            records = await harness.records.for_order(order_id)
            assert len(records.succeeded_charges) == charges, (order_id, records.charges)

    replayer = new_replayer(converter=harness.config.data_converter())
    for run in old + new:
        history = await harness.client.get_workflow_handle(run.run_id).fetch_history()
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{run.run_id}: {result.replay_failure}"
