"""The next build of `OrderWorkflow` for the versioned-rollout test: a change that no patch guards.

It waits on a timer before the first step, so its first command is StartTimer where every history written by the
current code has ScheduleActivityTask: replaying such a history with it is a non-determinism error. Deployed the
unversioned way, it would break every order in flight; with Worker Versioning those orders stay on the build they
started on. A module of its own, not a test module, like tests/replay/variants.py.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior

from workflows.models import OrderResult, StoredOrder
from workflows.order import OrderWorkflow
from workflows.reconcile import ReconcileWorkflow

GRACE_BEFORE_FIRST_STEP = timedelta(milliseconds=50)


@workflow.defn(name="OrderWorkflow", versioning_behavior=VersioningBehavior.PINNED)
class OrderWorkflowWithTimerFirst(OrderWorkflow):
    @workflow.run  # the SDK wants the @workflow.run method on the decorated class itself
    async def run(self, order: StoredOrder) -> OrderResult:
        await workflow.sleep(GRACE_BEFORE_FIRST_STEP)
        return await super().run(order)


NEXT_BUILD_WORKFLOWS = [OrderWorkflowWithTimerFirst, ReconcileWorkflow]
