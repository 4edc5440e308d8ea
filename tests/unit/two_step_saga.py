"""A tiny saga written on the step runner (workflows/steps.py) with plain string names and dict inputs, as a declared
saga drives it: book, then pay; undo by unbooking and refunding. The workflow under test in test_step_runner.py."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityCancellationType

from workflows.activity_types import ActivityType
from workflows.errors import ORDER_FAILURES
from workflows.models import CompensationOutcome, CompensationStatus, ProgressKind
from workflows.policies import OptionsTable
from workflows.steps import Fence, Plan, StepRunner, Undo, to_the_end

BOOK = ActivityType("book", dict, dict)
PAY = ActivityType("pay", dict, dict)
UNBOOK = ActivityType("unbook", dict, CompensationOutcome)
REFUND = ActivityType("refund", dict, CompensationOutcome)

# As OrderWorkflow's steps (workflows/policies.py): a cancel lets the attempt in flight finish before the undo runs.
_FORWARD = {
    "start_to_close_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(maximum_attempts=3),
    "cancellation_type": ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
}
_UNDO = {"start_to_close_timeout": timedelta(seconds=30), "retry_policy": RetryPolicy(maximum_attempts=2)}
OPTIONS = OptionsTable(
    {"book": _FORWARD, "pay": _FORWARD, "unbook": _UNDO, "refund": _UNDO}, local_first=frozenset({"book", "pay"})
)
PLAN: Plan[str, str] = Plan(
    steps=("book", "pay"),
    undo={
        "book": Undo("unbook", UNBOOK, fences="book", summary="unbook"),
        "pay": Undo("refund", REFUND, fences="pay", summary="refund"),
    },
    options=OPTIONS,
)


@dataclass
class Record:
    """A compensation as this saga reports it (what `workflows.saga.CompensationEntry` asks for)."""

    action: str
    status: CompensationStatus = CompensationStatus.PENDING
    undone: bool | None = None
    detail: str | None = None


@dataclass
class Progress:
    state: str = "running"
    current_step: str | None = None
    completed_steps: list[str] = field(default_factory=list)
    compensations: list[Record] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


@dataclass
class Trip:
    name: str
    local_first: bool = False
    wait_before_finishing: bool = False


@workflow.defn
class TwoStepSaga:
    @workflow.init
    def __init__(self, trip: Trip) -> None:
        self._progress = Progress()
        self._finish = False
        self._steps: StepRunner[str, str, Record] = StepRunner(
            PLAN,
            progress=self._progress,
            records=self._progress.compensations,
            record=self._record,
            details=workflow.set_current_details,
            fence_input=lambda undo, fence: {"trip": trip.name, **_keys(fence)},
            new_record=lambda action: Record(action=action),
        )

    @workflow.run
    async def run(self, trip: Trip) -> Progress:
        self._steps.local_first = trip.local_first
        self._steps.execution = workflow.info().first_execution_run_id
        if trip.local_first:
            self._steps.register_every_undo()
        try:
            for step, activity in (("book", BOOK), ("pay", PAY)):
                arg = {"trip": trip.name, "key": self._steps.key(activity)}
                await self._steps.step(step, lambda a=activity, x=arg: self._steps.call(a, x, f"{a.name} {trip.name}"))
            if trip.wait_before_finishing:
                await workflow.wait_condition(lambda: self._finish)
        except ORDER_FAILURES:
            await to_the_end(self._compensate())
        except asyncio.CancelledError:
            await to_the_end(self._compensate())
            raise
        else:
            self._progress.state = "completed"
        return self._progress

    @workflow.query
    def progress(self) -> Progress:
        return self._progress

    @workflow.signal
    def finish(self) -> None:
        self._finish = True

    @workflow.update
    def retry(self) -> None:
        self._steps.operator_retry()

    async def _compensate(self) -> None:
        self._progress.state = "compensating"
        await self._steps.compensate(on_stuck=self._stuck)
        self._progress.state = "compensated"

    async def _stuck(self) -> None:
        self._progress.state = "needs_attention"
        await self._steps.wait_for_operator()
        self._progress.state = "compensating"

    def _record(self, kind: ProgressKind, **about: Any) -> None:
        name = about.get("step") or about.get("compensation")
        self._progress.events.append(f"{kind.value} {name}")


def _keys(fence: Fence) -> dict[str, Any]:
    return {"step_key": fence.step_key, "later_keys": list(fence.later_keys), "key": fence.key}
