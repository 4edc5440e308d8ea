"""A status read answers within seconds when no worker polls the order's task queue, and still waits for a worker that
polls but answers late (clients/status_query.py); a wait for the outcome ends at its deadline, or (`--wait`, which has
none) says why the order does not move. Before, every query of such an order was held for the client's 30 s deadline.
The same holds for an order pinned to a build no worker runs any more, while workers of other builds poll its queue."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflow.v1 import VersioningOverride, WorkflowExecutionOptions
from temporalio.api.workflowservice.v1 import UpdateWorkflowExecutionOptionsRequest
from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.service import RPCError

from cadenza import pollers
from cadenza.pollers import live_pollers
from clients import status_query
from clients.orders import describe_order, place_order, wait_for_result
from tests.conftest import make_order
from tests.integration.conftest import Harness
from tests.integration.test_cli import CADENZA, REPO
from tests.integration.test_order_api import Api, api  # noqa: F401 - the Order API's fixture
from workers.worker import Versioning, order_worker
from workflows.models import OrderState
from workflows.order import OrderWorkflow

HELD_BEFORE = 30.0
"""Seconds the server held a query that no worker takes: the client's default deadline, what every read waited."""
# 2 lines × 2 units × 3,000.00: 12,000.00 EUR, above what the risk check approves without a person (10,000.00).
_FOR_REVIEW = 300_000


async def test_an_order_no_worker_polls_for_reads_within_seconds_and_says_why(harness: Harness):
    nobody = f"nobody-{uuid.uuid4().hex}"
    order = make_order()
    placed = await place_order(harness.client, order, task_queue=nobody, eager_start=False)
    try:
        began = time.monotonic()
        view = await describe_order(harness.client, order.order_id)
        took = time.monotonic() - began

        assert view.progress is None
        assert f"no worker polls task queue {nobody}" in (view.note or "") and "start a worker" in (view.note or "")
        # The first ask (5 s), then a look at the queue's pollers: well under the 30 s each query nobody takes was
        # held for, with room for a loaded CI machine (10.1 s seen there, 5.3 s on a quiet one).
        assert took < HELD_BEFORE - 10, took
        records = await harness.records.for_order(order.order_id)
        assert records.erp_order is None and records.charges == []  # reading changed nothing
    finally:
        await placed.handle.terminate("test cleanup: no worker runs it")


async def _awaiting_review(harness: Harness, order_id: str) -> None:
    for _ in range(100):
        view = await describe_order(harness.client, order_id)
        if view.progress is not None and view.progress.state == OrderState.AWAITING_REVIEW:
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"order never reached awaiting_review: {view}")


async def _pin(client: Client, workflow_id: str, version: WorkerDeploymentVersion) -> None:
    """Pin the run to `version` as an operator would (`temporal workflow update-options`)."""
    pinned = VersioningOverride.PinnedOverride(
        behavior=VersioningOverride.PINNED_OVERRIDE_BEHAVIOR_PINNED, version=version._to_proto()
    )
    options = WorkflowExecutionOptions(versioning_override=VersioningOverride(pinned=pinned))
    await client.workflow_service.update_workflow_execution_options(
        UpdateWorkflowExecutionOptionsRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id),
            workflow_execution_options=options,
            update_mask=FieldMask(paths=["versioning_override"]),
        )
    )


async def test_an_order_left_on_a_retired_build_reads_within_seconds_though_another_build_polls(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    # The server lists a stopped worker's pollers for minutes; Cadenza counts them for POLLER_FRESH (90 s). Shortened
    # here so that v1 reads as retired seconds after its worker stopped, and the first ask too, so that the look at
    # the pollers comes while v2's are fresh: a check that ignored the pin would find v2 polling and wait 30 s again.
    monkeypatch.setattr(pollers, "POLLER_FRESH", timedelta(seconds=3))
    monkeypatch.setattr(status_query, "FIRST_ANSWER", timedelta(seconds=1))
    task_queue = f"retired-{uuid.uuid4().hex}"
    name = f"it-retired-{uuid.uuid4().hex[:8]}"
    v1, v2 = (Versioning(WorkerDeploymentVersion(name, build), auto_promote=True) for build in ("v1", "v2"))
    endpoints = harness.config.endpoints()
    order = make_order(unit_price=_FOR_REVIEW)  # waits for a person: open, so its status is a query
    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints, versioning=v1):
        placed = await place_order(harness.client, order, task_queue=task_queue, eager_start=False)
        await _awaiting_review(harness, order.order_id)
    # v1 is retired with the order still open on it (PINNED); v2's worker polls the same queue and cannot answer.
    await asyncio.sleep(pollers.POLLER_FRESH.total_seconds() + 0.5)
    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints, versioning=v2):
        try:
            for _ in range(100):
                if await live_pollers(harness.client, task_queue, version=v2.version):
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("v2's worker never polled")
            assert not await live_pollers(harness.client, task_queue, version=v1.version)
            began = time.monotonic()
            view = await describe_order(harness.client, order.order_id)
            took = time.monotonic() - began

            assert view.progress is None and view.running
            note = view.note or ""
            assert f"pinned to build v1 of deployment {name}" in note, note
            assert "CADENZA_BUILD_ID=v1 cadenza worker" in note and "update-options" in note, note
            assert took < HELD_BEFORE - 10, took  # the first ask and a look at the pollers, not the 30 s hold

            # The note's other way out: moved to v2 (same code, so it replays there), v2's worker answers for it.
            await _pin(harness.client, order.workflow_id, v2.version)
            moved = await describe_order(harness.client, order.order_id)
            assert moved.note is None and moved.progress is not None, moved
            assert moved.progress.state == OrderState.AWAITING_REVIEW
            await placed.handle.cancel()
            assert (await wait_for_result(placed.handle)).state == OrderState.COMPENSATED
        finally:
            with contextlib.suppress(RPCError):  # already closed when the test got that far
                await placed.handle.terminate("test cleanup")


async def test_a_query_unanswered_at_first_is_asked_again_when_a_worker_polls(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
):
    order = make_order(unit_price=_FOR_REVIEW)  # waits for a person: running, so its status is a query
    placed = await place_order(harness.client, order, task_queue=harness.task_queue)
    try:
        await _awaiting_review(harness, order.order_id)
        # A first ask too short for any worker: every query gives up on its first try, as one behind a long workflow
        # task would. The worker polls, so the query is asked again, and answered.
        monkeypatch.setattr(status_query, "FIRST_ANSWER", timedelta(microseconds=1))
        progress = await status_query.ask_status(harness.client, placed.handle, OrderWorkflow.status)
        assert progress.state == OrderState.AWAITING_REVIEW
        assert (await describe_order(harness.client, order.order_id)).note is None
    finally:
        await placed.handle.cancel()
        assert (await wait_for_result(placed.handle)).state == OrderState.COMPENSATED


async def test_the_api_s_wait_ends_at_its_deadline_with_why_when_no_worker_polls(api: Api, harness: Harness):
    nobody = f"nobody-{uuid.uuid4().hex}"
    api.app.state.task_queue = nobody
    order = make_order()
    try:
        began = time.monotonic()
        placed = await api.place(order, api.key(), Prefer="wait=3")
        took = time.monotonic() - began
    finally:
        api.app.state.task_queue = harness.task_queue
    try:
        assert placed.status_code == 202, placed.text
        body = placed.json()
        assert (body["state"], body["closed"]) == (None, False)  # its progress cannot be had: the note says why
        assert f"no worker polls task queue {nobody}" in body["note"]
        # The 3 s asked for and one status read (8.2 s on a quiet machine): a query nobody takes held each poll for
        # 30 s before, and the read after it as long again.
        assert took < HELD_BEFORE - 10, took
    finally:
        await harness.client.get_workflow_handle(order.workflow_id).terminate("test cleanup: no worker runs it")


async def test_order_place_wait_says_no_worker_polls_and_keeps_waiting(harness: Harness, tmp_path: Path):
    nobody = f"nobody-{uuid.uuid4().hex}"
    order = make_order()
    path = tmp_path / "order.json"
    path.write_text(order.model_dump_json())
    process = await asyncio.create_subprocess_exec(
        *CADENZA,
        "order",
        "place",
        str(path),
        "--wait",
        cwd=REPO,
        env={**os.environ, **harness.config.client_env(), "CADENZA_TASK_QUEUE": nobody, "COLUMNS": "300"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    said: list[str] = []
    try:
        assert process.stderr is not None
        async with asyncio.timeout(30):
            while f"no worker polls task queue {nobody}" not in "".join(said):
                line = await process.stderr.readline()
                assert line, f"cadenza exited without saying no worker polls: {''.join(said)}"
                said.append(line.decode())
        assert "start a worker" in said[-1] and "Still waiting" in said[-1]
        assert process.returncode is None  # still waiting: the order goes on once a worker starts
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await harness.client.get_workflow_handle(order.workflow_id).terminate("test cleanup: no worker runs it")
