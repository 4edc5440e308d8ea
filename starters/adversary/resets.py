"""The reset fuzzer: reset a finished order to *every* workflow task it completed, let each reset run finish, and
check that the services agree with how it ended.

Reset is a button in the Web UI and a CLI command: any of an execution's completed workflow tasks can be chosen, by
anyone with access to the namespace. Each must leave a true state: an order that ends `completed` is fulfilled at
every service, one that ends compensated (or cancelled) has nothing live. Runs that wait for someone are moved on as
an operator would: a review is approved, a compensation waiting in `needs_attention` is retried.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyExcludeType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from activities.audit import order_outcome, order_problems
from activities.records import ServiceRecords
from cadenza.codec import KeyRing
from cadenza.search_attributes import ORDER_STATUS
from clients.orders import retry_compensations, send_review
from workflows.models import WORKFLOW_ID_PREFIX, OrderState, ReviewDecision, ReviewVerdict
from workflows.order import OrderWorkflow

# How long one reset run may take to finish (its calls are retried against healthy services; a review is decided at
# once): a run still open after it is reported, not waited for.
SETTLE_TIMEOUT_S = 60.0
REVIEWER = "cadenza adversary resets"


@dataclass(frozen=True)
class ResetTrial:
    """One reset of one order: where to, and how the reset run ended."""

    workflow_id: str
    event_id: int
    ended: str
    problems: tuple[str, ...] = ()


@dataclass
class ResetReport:
    trials: list[ResetTrial] = field(default_factory=list)

    @property
    def problems(self) -> list[ResetTrial]:
        return [trial for trial in self.trials if trial.problems]


def reset_points(events) -> list[int]:
    """The event ids an operator can reset to: every completed workflow task."""
    return [event.event_id for event in events if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]


async def reset_to(
    client: Client,
    workflow_id: str,
    run_id: str,
    event_id: int,
    reason: str,
    *,
    request_id: str | None = None,
    reapply_exclude: Sequence[ResetReapplyExcludeType.ValueType] = (),
) -> WorkflowHandle:
    """What the Web UI's Reset does: a new run replays `run_id` up to `event_id` and carries on from there. The same
    `request_id` on a retried call makes it one reset (a fresh one by default); `reapply_exclude` keeps the events of
    those kinds recorded after `event_id` from being applied to the new run again (`--reapply-exclude`)."""
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            reason=reason,
            workflow_task_finish_event_id=event_id,
            request_id=request_id or str(uuid.uuid4()),
            reset_reapply_exclude_types=reapply_exclude,
        )
    )
    return client.get_workflow_handle_for(OrderWorkflow.run, workflow_id, run_id=response.run_id)


class ResetFuzzer:
    """Resets finished orders at every point and checks each end state against the services' records."""

    def __init__(
        self,
        client: Client,
        records: ServiceRecords,
        on_trial: Callable[[ResetTrial], None] = lambda _: None,
        *,
        keys: KeyRing | None = None,
    ):
        self._client = client
        self._records = records
        self._on_trial = on_trial
        self._keys = keys  # what its decisions are signed with (default: this process's decision keys)

    async def fuzz(self, workflow_ids: list[str]) -> ResetReport:
        """Every reset point of each order's current run, one reset at a time per order, orders side by side."""
        report = ResetReport()
        for trials in await asyncio.gather(*(self._fuzz_one(workflow_id) for workflow_id in workflow_ids)):
            report.trials += trials
        return report

    async def _fuzz_one(self, workflow_id: str) -> list[ResetTrial]:
        original = self._client.get_workflow_handle(workflow_id)
        run_id = (await original.describe()).run_id
        points = reset_points([event async for event in original.fetch_history_events()])
        trials = []
        for event_id in points:
            handle = await reset_to(self._client, workflow_id, run_id, event_id, f"{REVIEWER}: every reset point")
            trial = await self._settle_and_check(handle, event_id)
            self._on_trial(trial)
            trials.append(trial)
        return trials

    async def _settle_and_check(self, handle: WorkflowHandle, event_id: int) -> ResetTrial:
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT_S):
                execution = await self._settle(handle)
        except TimeoutError:
            return ResetTrial(handle.id, event_id, "open", (f"still open {SETTLE_TIMEOUT_S:.0f} s after the reset",))
        outcome = order_outcome(execution)
        records = await self._records.for_order(handle.id.removeprefix(WORKFLOW_ID_PREFIX))
        return ResetTrial(handle.id, event_id, outcome.description, tuple(order_problems(outcome, records)))

    async def _settle(self, handle: WorkflowHandle):
        """Wait for the run to close, deciding for it what a person would: approve a review, retry a compensation."""
        while True:
            execution = await handle.describe()
            if execution.status != WorkflowExecutionStatus.RUNNING:
                return execution
            state = execution.typed_search_attributes.get(ORDER_STATUS)
            try:
                if state == OrderState.AWAITING_REVIEW:
                    decision = ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer=REVIEWER, reason="reset run")
                    await send_review(handle, decision, keys=self._keys)
                elif state == OrderState.NEEDS_ATTENTION:
                    await retry_compensations(handle, operator=REVIEWER, keys=self._keys)
            except (WorkflowUpdateFailedError, RPCError):
                pass  # refused because the run moved on meanwhile (decided, closed): look again
            await asyncio.sleep(0.1)
