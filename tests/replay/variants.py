"""`OrderWorkflow` as it would look at the other stages of the risk check's patch lifecycle, to replay against.

- `UnguardedOrderWorkflow`: the check with no `workflow.patched()` guard at all — the mistake replay must catch.
- `DeprecatedPatchOrderWorkflow`: the next stage, `workflow.deprecate_patch()` with the check unconditional — safe
  once no execution started before the patch remains.

A module of its own, not a test module: a sandboxed workflow runner re-imports the module that defines a workflow.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.models import RISK_CHECK_THRESHOLD, OrderResult, StoredOrder
from workflows.order import RISK_CHECK_PATCH, OrderWorkflow

# Each variant repeats `run`: the SDK wants the @workflow.run method defined on the decorated class itself.


@workflow.defn(name="OrderWorkflow")
class UnguardedOrderWorkflow(OrderWorkflow):
    @workflow.run
    async def run(self, order: StoredOrder) -> OrderResult:
        return await super().run(order)

    def _risk_check_applies(self) -> bool:
        return self._order.total_amount >= RISK_CHECK_THRESHOLD


@workflow.defn(name="OrderWorkflow")
class DeprecatedPatchOrderWorkflow(OrderWorkflow):
    @workflow.run
    async def run(self, order: StoredOrder) -> OrderResult:
        return await super().run(order)

    def _risk_check_applies(self) -> bool:
        if self._order.total_amount < RISK_CHECK_THRESHOLD:
            return False
        workflow.deprecate_patch(
            RISK_CHECK_PATCH
        )  # still marks new histories, so workers on `patched()` can replay them
        return True
