"""ReconcileWorkflow's control flow under the sandboxed runner, with fake activities: each planned repair is one
activity, a failed one is raised instead of failing the run, and the report says what happened."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from workflows.reconcile import ReconcileWorkflow
from workflows.reconcile_models import (
    Finding,
    ReconcileInput,
    ReconcileReport,
    Repair,
    RepairAction,
    RepairOutcome,
    RepairStatus,
    Survey,
)

REFUND = Repair(
    action=RepairAction.REFUND_CHARGE,
    order_id="o-1",
    target="ch_1",
    reason="live charge; order ended compensated",
    judged_as="compensated",
)
RELEASE = Repair(
    action=RepairAction.RELEASE_RESERVATION,
    order_id="o-2",
    target="res_2",
    reason="reservation held; order ended cancelled",
    judged_as="cancelled",
)
RAISED = Finding(order_id="o-3", message="0 live charges, expected exactly 1")


async def test_repairs_run_one_by_one_and_a_failed_one_is_raised(time_skipping_env, task_queue):
    repaired: list[Repair] = []

    @activity.defn(name="check_orders")
    async def check_orders(params: ReconcileInput) -> Survey:
        assert params.prefix == "t-"
        return Survey(
            orders=5,
            open_orders=1,
            deferred=1,
            repairs=[REFUND, RELEASE],
            problems=[RAISED],
            problems_total=1,
            notes=["stock not checked"],
        )

    @activity.defn(name="repair")
    async def repair(planned: Repair) -> RepairOutcome:
        if planned.action == RepairAction.RELEASE_RESERVATION:
            raise ApplicationError("inventory answered 403 forbidden", type="Forbidden", non_retryable=True)
        repaired.append(planned)
        return RepairOutcome(repair=planned, status=RepairStatus.REPAIRED, detail="refunded")

    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[ReconcileWorkflow],
        activities=[check_orders, repair],
        workflow_runner=SandboxedWorkflowRunner(),
        workflow_failure_exception_types=[Exception],
    ):
        handle = await time_skipping_env.client.start_workflow(
            ReconcileWorkflow.run,
            ReconcileInput(prefix="t-", grace=timedelta(0)),
            id=f"reconcile-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        report: ReconcileReport = await handle.result()
        assert await handle.query(ReconcileWorkflow.progress) == report

    assert repaired == [REFUND]
    assert [(o.repair, o.status) for o in report.repairs] == [
        (REFUND, RepairStatus.REPAIRED),
        (RELEASE, RepairStatus.FAILED),
    ]
    assert "403 forbidden" in report.repairs[1].detail
    assert report.unrepaired[0] == RAISED
    assert (
        report.unrepaired[1].order_id == "o-2"
        and "release reservation res_2 of order o-2 failed" in report.unrepaired[1].message
    )
    assert (report.unrepaired_total, report.orders, report.open_orders, report.deferred) == (2, 5, 1, 1)
    assert report.phase == "done" and not report.clean
    assert report.summary() == "5 orders checked (1 open, 1 within the 0s grace period): 1 repaired, 2 left unrepaired"
