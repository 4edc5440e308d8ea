"""A non-deterministic change deployed to a running stack, seen by every net and every door.

A 12,000.00 order waits in `awaiting_review` on build v1. Its worker stops, and a worker whose OrderWorkflow starts
with a timer (tests/integration/rollout_variant.py) takes over under the *same* build id: the mistake Worker Versioning
cannot catch (an image re-tagged, a hot fix pushed under the old id). The order is then stuck, and:
- before any workflow task failed, `cadenza order review --approve` says so (the worker cannot rebuild it for a query);
- once a review update made a workflow task run and fail: `cadenza audit`, the reconciler (its finding and its
  `cadenza_inconsistencies` gauge), `cadenza doctor`'s replay check, the CLI and the Order API all say "stuck", with the
  cause and the next step, where they said "awaiting_review", "Encoded failure" or 500 before;
- the next step works: with v1's code back, the order carries on and the approval sent while it was stuck applies.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkerDeploymentVersion

from activities.audit import run_audit
from activities.stuck import StuckExecution, stuck_execution
from api.orders import STUCK
from clients.orders import place_order, signed, wait_for_result
from starters.doctor.model import Context, Status
from starters.doctor.replay import open_orders_replay
from starters.reconcile.command import run_once
from tests.integration.conftest import Harness
from tests.integration.rollout_variant import NEXT_BUILD_WORKFLOWS
from tests.integration.test_cli import _cadenza_async
from tests.integration.test_manual_review import _big_order
from tests.integration.test_order_api import Api, api  # noqa: F401 — the Order API on a free port, as a fixture
from tests.integration.test_reconcile import reconcile_worker_with_metrics
from workers.worker import WORKFLOWS, Versioning, order_worker
from workflows.models import Order, OrderState, ReviewDecision, ReviewVerdict
from workflows.order import REVIEW_UPDATE, OrderWorkflow
from workflows.reconcile_models import ReconcileInput

pytestmark = pytest.mark.integration

NON_DETERMINISM = "NON_DETERMINISTIC_ERROR: [TMPRL1100] Nondeterminism error"


def _flat(text: str) -> str:
    """Terminal output without the line breaks rich wraps long messages with."""
    return " ".join(text.split())


async def _waiting_for_review(harness: Harness, v1: Versioning, task_queue: str) -> tuple[Order, WorkflowHandle]:
    order = _big_order()
    async with order_worker(harness.client, task_queue=task_queue, endpoints=harness.config.endpoints(), versioning=v1):
        # Not eager: `cadenza order place` and the Order API run no worker either.
        handle = (await place_order(harness.client, order, task_queue=task_queue, eager_start=False)).handle
        async with asyncio.timeout(30):
            while (await handle.query(OrderWorkflow.status)).state != OrderState.AWAITING_REVIEW:
                await asyncio.sleep(0.1)
    return order, handle


async def _failed_tasks(handle: WorkflowHandle) -> int:
    return len(
        [e async for e in handle.fetch_history_events() if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    )


async def _approve_while_stuck(handle: WorkflowHandle) -> None:
    """A review update: it makes a workflow task run, which fails, so the update is never answered (it is kept, and
    applies once the order runs again)."""
    decision = signed(REVIEW_UPDATE, handle.id, ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="test:stuck"))
    with pytest.raises(WorkflowUpdateRPCTimeoutOrCancelledError):
        await handle.execute_update(OrderWorkflow.review, decision, rpc_timeout=timedelta(seconds=2))


async def _until_stuck(client: Client, handle: WorkflowHandle) -> StuckExecution:
    async with asyncio.timeout(30):
        while (stuck := await stuck_execution(client, await handle.describe())) is None:
            await asyncio.sleep(0.2)
    return stuck


def _assert_stuck_by_the_bad_build(message: str, order: Order, v1: Versioning) -> None:
    build = f"build {v1.version.build_id} of deployment {v1.version.deployment_name}"
    assert message.startswith("stuck: workflow task failing since "), message
    assert NON_DETERMINISM in message, message
    assert f"next step: deploy or run the build that started it ({build})" in message, message
    assert f"temporal workflow reset --namespace default --workflow-id {order.workflow_id} --run-id " in message, (
        message
    )


async def _audit_reports_it(harness: Harness, order: Order, v1: Versioning) -> None:
    audit = await run_audit(harness.client, harness.records, prefix=order.order_id)
    assert audit.outcomes == {"stuck": 1}  # not "awaiting_review", which its OrderStatus still says
    [problem] = audit.problems
    assert problem.order_id == order.order_id
    _assert_stuck_by_the_bad_build(problem.message, order, v1)


async def _reconciler_counts_it(harness: Harness, order: Order, v1: Versioning) -> None:
    async with reconcile_worker_with_metrics(harness) as (client, task_queue, metrics_url):
        params = ReconcileInput(prefix=order.order_id, grace=timedelta(0))
        _, report = await run_once(client, params, task_queue=task_queue)
        metrics = (await asyncio.to_thread(httpx.get, metrics_url)).text
    assert report.repairs == [] and report.unrepaired_total == 1
    [finding] = report.unrepaired
    assert finding.order_id == order.order_id
    _assert_stuck_by_the_bad_build(finding.message, order, v1)
    assert re.search(r"cadenza_inconsistencies\{[^}]*\} 1\b", metrics), metrics


async def _doctor_flags_it(harness: Harness, order: Order, v1: Versioning) -> None:
    context = Context(http=harness.http, client=harness.client)
    bad = await open_orders_replay(v1.version, workflows=NEXT_BUILD_WORKFLOWS).run(context)
    assert bad.status == Status.FAIL, bad
    assert bad.detail.startswith(f"1 of 1 open order of build {v1.version.build_id} ") and order.order_id in bad.detail
    assert "[TMPRL1100] Nondeterminism error" in bad.detail
    assert f"order {order.order_id}: deploy or run the build that started it (build {v1.version.build_id}" in bad.fix
    assert f"--workflow-id {order.workflow_id} --event-id " in bad.fix
    # The code that started it replays it, failed task and all: run that build, and the order carries on.
    good = await open_orders_replay(v1.version, workflows=WORKFLOWS).run(context)
    assert good.status == Status.PASS and good.detail.startswith("1 open order of build "), good


async def _cli_says_stuck(harness: Harness, order: Order, v1: Versioning) -> None:
    env = harness.config.client_env()
    for command in (["status"], ["cancel"], ["retry-compensation"], ["review", "--reject"]):
        done = await _cadenza_async(["order", command[0], order.order_id, *command[1:]], env)
        assert done.returncode == 1, done.stdout + done.stderr
        said = _flat(done.stderr)
        assert "Encoded failure" not in said and "Traceback" not in said, said
        _assert_stuck_by_the_bad_build(said.removeprefix("error: "), order, v1)


async def _api_says_stuck(api: Api, order: Order, v1: Versioning) -> None:
    base, headers = f"{api.url}/orders/{order.order_id}", api.key()
    answers = [
        await api.http.get(base, headers=headers),
        await api.http.get(f"{base}/events", headers=headers),
        await api.http.post(f"{base}/cancel", headers=headers),
        await api.http.post(f"{base}/retry-compensation", headers=headers),
        await api.http.post(f"{base}/review", json={"decision": "reject"}, headers=headers),
    ]
    for answer in answers:
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        problem = answer.json()
        assert (problem["type"], problem["title"]) == (STUCK, "Order stuck")
        _assert_stuck_by_the_bad_build(problem["detail"], order, v1)
        assert problem["cause"].startswith(NON_DETERMINISM) and problem["next_step"].startswith(
            "deploy or run the build"
        )


async def test_a_non_deterministic_change_under_the_same_build_is_stuck_for_every_net_and_every_door(
    harness: Harness, api: Api
):
    v1 = Versioning(WorkerDeploymentVersion(f"it-stuck-{uuid.uuid4().hex[:8]}", "v1"), auto_promote=True)
    task_queue = f"stuck-{uuid.uuid4().hex}"
    order, handle = await _waiting_for_review(harness, v1, task_queue)
    endpoints = harness.config.endpoints()

    async with AsyncExitStack() as bad_build:
        await bad_build.enter_async_context(
            order_worker(
                harness.client,
                task_queue=task_queue,
                endpoints=endpoints,
                versioning=v1,
                workflows=NEXT_BUILD_WORKFLOWS,
            )
        )
        # No workflow task has failed yet, but the worker cannot rebuild the order to answer the review's first look.
        refused = await _cadenza_async(["order", "review", order.order_id, "--approve"], harness.config.client_env())
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert _flat(refused.stderr).startswith(
            "error: stuck: its workflow cannot be rebuilt from its history to answer a query "
            "([TMPRL1100] Nondeterminism"
        ), refused.stderr
        assert await _failed_tasks(handle) == 0  # refused before anything was sent

        await _approve_while_stuck(handle)
        await _until_stuck(harness.client, handle)
        await _audit_reports_it(harness, order, v1)
        await _reconciler_counts_it(harness, order, v1)
        await _doctor_flags_it(harness, order, v1)
        await _cli_says_stuck(harness, order, v1)
        await _api_says_stuck(api, order, v1)

    # The next step: v1's code back under v1. The order carries on, and the approval sent while it was stuck applies.
    async with order_worker(harness.client, task_queue=task_queue, endpoints=endpoints, versioning=v1):
        result = await asyncio.wait_for(wait_for_result(handle), 60)
    assert result.state == OrderState.COMPLETED and result.review.reviewer == "test:stuck"
    audit = await run_audit(harness.client, harness.records, prefix=order.order_id)
    assert audit.clean and audit.outcomes == {"completed": 1}, audit.problems
