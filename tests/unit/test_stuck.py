"""The stuck-execution detector (activities/stuck.py) on crafted describes and histories: what makes an open execution
stuck, what does not, that its history is read only for a suspect, and what the one-line summary tells an operator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf.any_pb2 import Any as AnyProto
from temporalio.api.common.v1 import GrpcStatus, WorkflowExecution, WorkflowType
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause
from temporalio.api.errordetails.v1 import QueryFailedFailure
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowTaskFailedEventAttributes,
    WorkflowTaskScheduledEventAttributes,
)
from temporalio.api.workflow.v1 import PendingWorkflowTaskInfo, WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionResponse
from temporalio.client import WorkflowExecutionDescription, WorkflowQueryFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.stuck import Recovery, read_task_history, stuck_execution, stuck_from_query_failure
from cadenza.connection import data_converter
from starters.history_files import load_history

REVIEWED = Path(__file__).resolve().parents[1] / "histories" / "local-first" / "review_approved.json"
WORKFLOW_ID, RUN_ID = "order-t-stuck", "run-1"
# What the worker's failure converter makes of a workflow-code error: the message moves into the encrypted attributes.
VALIDATION_ERROR = "3 validation errors for ChargeRecord\napproved\n  Field required"
NON_DETERMINISTIC = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR


def _waiting_for_review() -> list[HistoryEvent]:
    """A recorded order up to its second completed workflow task (it then waits for its review)."""
    events = load_history(REVIEWED).events
    completed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]
    return [e for e in events if e.event_id <= completed[1].event_id]


def _next_event(events: list[HistoryEvent], event_type: EventType.ValueType, **attributes: object) -> HistoryEvent:
    event = HistoryEvent(event_id=events[-1].event_id + 1, event_type=event_type, **attributes)
    event.event_time.CopyFrom(events[-1].event_time)
    events.append(event)
    return event


async def _encoded_failure(message: str) -> Failure:
    failure = Failure()
    await data_converter().encode_failure(ApplicationError(message), failure)
    assert failure.message == "Encoded failure"  # what the Web UI, the CLI and the API showed until now
    return failure


async def _failed_task(cause: WorkflowTaskFailedCause.ValueType = NON_DETERMINISTIC) -> list[HistoryEvent]:
    events = _waiting_for_review()
    _next_event(
        events,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        workflow_task_scheduled_event_attributes=WorkflowTaskScheduledEventAttributes(attempt=1),
    )
    _next_event(events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    failure = await _encoded_failure(VALIDATION_ERROR)
    _next_event(
        events,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(cause=cause, failure=failure),
    )
    return events


class _Server:
    """A client's view of one execution: its history, and how often it was read."""

    namespace = "default"

    def __init__(self, events: list[HistoryEvent]) -> None:
        self.events, self.history_reads = events, 0

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None) -> _Server:
        assert (workflow_id, run_id) == (WORKFLOW_ID, RUN_ID)
        return self

    async def fetch_history_events(self) -> AsyncIterator[HistoryEvent]:
        self.history_reads += 1
        for event in self.events:
            yield event


async def _described(attempt: int | None) -> WorkflowExecutionDescription:
    raw = DescribeWorkflowExecutionResponse(
        workflow_execution_info=WorkflowExecutionInfo(
            execution=WorkflowExecution(workflow_id=WORKFLOW_ID, run_id=RUN_ID),
            type=WorkflowType(name="OrderWorkflow"),
            status=WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        ),
    )
    if attempt is not None:
        raw.pending_workflow_task.CopyFrom(PendingWorkflowTaskInfo(attempt=attempt))
    return await WorkflowExecutionDescription._from_raw_description(raw, "default", data_converter())


async def test_a_failing_workflow_task_is_stuck_with_its_decrypted_cause_and_the_next_step():
    events = await _failed_task()
    last_good = _waiting_for_review()[-1].event_id
    stuck = await stuck_execution(_Server(events), await _described(attempt=3))

    assert stuck is not None
    summary = stuck.summary()
    assert summary.startswith("stuck: workflow task failing since ") and "UTC (3 attempts)" in summary
    assert "(NON_DETERMINISTIC_ERROR: 3 validation errors for ChargeRecord approved Field required)" in summary
    assert "Encoded failure" not in summary
    assert (
        "next step: deploy or run the build that started it (build 0.1.0-707433cb5f12 of deployment cadenza)" in summary
    )
    assert (
        f"reset it to its last good workflow task: `temporal workflow reset --namespace default --workflow-id "
        f"{WORKFLOW_ID} --run-id {RUN_ID} --event-id {last_good} --reason 'stuck workflow task'`"
    ) in summary


@pytest.mark.parametrize("attempt", [None, 1])
async def test_an_execution_whose_task_runs_normally_is_not_stuck_and_its_history_is_not_read(attempt):
    server = _Server(await _failed_task())  # a failure long past, say: the describe alone decides
    assert await stuck_execution(server, await _described(attempt)) is None
    assert server.history_reads == 0


async def test_a_task_that_timed_out_is_not_stuck_a_worker_died_and_another_takes_it():
    events = _waiting_for_review()
    _next_event(events, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)
    _next_event(events, EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    _next_event(events, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)
    assert await stuck_execution(_Server(events), await _described(attempt=2)) is None


async def test_a_failure_the_server_caused_and_retries_at_once_is_not_stuck():
    events = await _failed_task(WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND)
    assert await stuck_execution(_Server(events), await _described(attempt=2)) is None


async def test_a_failure_followed_by_a_completed_task_is_over():
    events = await _failed_task()
    completed = _next_event(events, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    history = read_task_history(events)
    assert (history.failure, history.last_good_task) == (None, completed.event_id)
    assert history.build == "build 0.1.0-707433cb5f12 of deployment cadenza"  # the first task's, not the last one's


def test_an_execution_that_never_completed_a_task_has_nothing_to_reset_to():
    recovery = Recovery("default", WORKFLOW_ID, RUN_ID, build=None, last_good_task=None)
    assert recovery.next_step() == (
        "deploy or run the build that started it; it never completed a workflow task, "
        "so there is nothing to reset it to"
    )


async def test_a_query_the_worker_cannot_answer_is_stuck_with_the_workers_own_failure():
    failure = await _encoded_failure(VALIDATION_ERROR)
    details = AnyProto()
    details.Pack(QueryFailedFailure(failure=failure))
    status = GrpcStatus(code=RPCStatusCode.INVALID_ARGUMENT, message="Encoded failure", details=[details])
    try:
        try:
            raise RPCError("Encoded failure", RPCStatusCode.INVALID_ARGUMENT, status.SerializeToString())
        except RPCError as rpc:  # as the SDK raises it: the query error in the context of the server's answer
            raise WorkflowQueryFailedError(rpc.message)  # noqa: B904 - in context, not `from`: as the SDK does
    except WorkflowQueryFailedError as err:
        stuck = await stuck_from_query_failure(_Server(_waiting_for_review()), await _described(attempt=None), err)

    assert stuck.summary().startswith(
        "stuck: its workflow cannot be rebuilt from its history to answer a query "
        "(3 validation errors for ChargeRecord approved Field required); next step: deploy or run the build"
    )
