"""The checks every worker runs before workflow code sees a start, an update or a signal (workers.worker.
workflow_checks), where no order needs to run to show them."""

from __future__ import annotations

import asyncio

from temporalio import workflow
from temporalio.worker import Worker

from tests.unit.test_plaintext_intake import _without_keys
from workers.worker import workflow_checks, workflow_runner
from workflows.order import SIGNED_UPDATES, OrderWorkflow


@workflow.defn
class Mailbox:
    """Keeps what it is told until told `close`: a signal handler, which no Cadenza workflow has yet."""

    def __init__(self) -> None:
        self.letters: list[str] = []

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: "close" in self.letters)
        return self.letters

    @workflow.signal
    def post(self, letter: str) -> None:
        self.letters.append(letter)


async def test_a_plaintext_signal_is_dropped_where_encryption_is_required(time_skipping_env, task_queue):
    checks = workflow_checks(refuse_plaintext=True)
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[Mailbox],
        workflow_runner=workflow_runner(),
        interceptors=checks,
    ):
        client = time_skipping_env.client
        handle = await client.start_workflow(Mailbox.run, id=f"mailbox-{task_queue}", task_queue=task_queue)
        await _without_keys(client).get_workflow_handle(handle.id).signal("post", "forged")
        await handle.signal(Mailbox.post, "sealed")
        await asyncio.sleep(0.2)  # the forged one is handled (dropped) first
        await handle.signal(Mailbox.post, "close")
        assert await handle.result() == ["sealed", "close"]


def test_every_signed_update_has_a_validator_for_the_check_to_run_in():
    # The SDK calls the update-validator hook of interceptors only for an update that has a validator.
    updates = {
        definition.name: definition
        for definition in workflow._Definition.must_from_class(OrderWorkflow).updates.values()
    }
    assert set(updates) >= SIGNED_UPDATES
    assert all(updates[name].validator is not None for name in SIGNED_UPDATES)
