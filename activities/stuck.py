"""Stuck executions: open orders whose workflow task keeps failing, told apart from orders that merely wait.

A workflow task that fails (a non-deterministic change deployed under a build id that already runs orders, a payload
the worker cannot decode, workflow code raising) is retried by the server for ever: the execution stays open, its
`OrderStatus` still says what it was doing before, and nothing moves. Only two places show it:
- `describe()`: the pending workflow task's attempt count climbs (1 while it runs normally);
- the history: the first failure of the streak is recorded as a WorkflowTaskFailed event with its cause and failure
  (the retries after it are not recorded).
Hence the cost: one describe per open execution, and a history only for those whose pending task is past its first
attempt. The audit, the reconciler, the CLI and the Order API all judge with `stuck_execution`; `cadenza doctor`'s
replay check gives the same next step (`Recovery`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.errordetails.v1 import QueryFailedFailure
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    Client,
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
)
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from workflows.models import WORKFLOW_ID_PREFIX

STUCK_FROM_ATTEMPT = 2
"""The pending workflow task's attempt from which an execution is suspected stuck: it failed at least once."""

# Failures the server causes itself and retries at once (an event arrived while the task completed, a sticky queue
# reset, a reset or a pause): the next attempt normally succeeds, so on their own they are not a stuck execution.
_TRANSIENT_CAUSES = frozenset(
    {
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FAILOVER_CLOSE_COMMAND,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_PAUSE_REQUESTED_BEFORE_TASK_STARTED,
    }
)
_CAUSE_PREFIX = "WORKFLOW_TASK_FAILED_CAUSE_"
# One describe at a time per open execution would make an audit of many waiting orders slow; all at once would flood
# the frontend. A bounded number in flight keeps both in check.
DESCRIBE_CONCURRENCY = 16
# Failure messages can be long (a validation error lists every field, a non-determinism error dumps state): enough to
# recognise the cause, the rest is in the history.
_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class Recovery:
    """What it takes to get an execution moving again: the build that started it, or its last good workflow task."""

    namespace: str
    workflow_id: str
    run_id: str | None
    build: str | None
    """The build that completed its first workflow task: "build <id> of deployment <name>", or "build <id>"."""
    last_good_task: int | None
    """The event id of its last WorkflowTaskCompleted; None when it never completed one."""

    def next_step(self) -> str:
        build = f" ({self.build})" if self.build else ""
        run = f"deploy or run the build that started it{build}"
        if self.last_good_task is None:
            return f"{run}; it never completed a workflow task, so there is nothing to reset it to"
        return f"{run}, or reset it to its last good workflow task: `{self.reset_command()}`"

    def reset_command(self) -> str:
        run_id = f" --run-id {self.run_id}" if self.run_id else ""
        return (
            f"temporal workflow reset --namespace {self.namespace} --workflow-id {self.workflow_id}{run_id} "
            f"--event-id {self.last_good_task} --reason 'stuck workflow task'"
        )


@dataclass(frozen=True)
class StuckExecution:
    recovery: Recovery
    failing: str
    """What fails and since when: "workflow task failing since 2026-12-07 09:15:38 UTC (3 attempts)"."""
    cause: str
    """The failure cause and message: "NON_DETERMINISTIC_ERROR: [TMPRL1100] Nondeterminism error: …"."""

    @property
    def workflow_id(self) -> str:
        return self.recovery.workflow_id

    def summary(self) -> str:
        """The one line every door shows: "stuck: <what fails> (<cause>); next step: …"."""
        return f"stuck: {self.failing} ({self.cause}); next step: {self.recovery.next_step()}"


@dataclass(frozen=True)
class TaskHistory:
    """What a history says about its workflow tasks (`read_task_history`)."""

    build: str | None
    last_good_task: int | None
    failure: HistoryEvent | None
    """The last WorkflowTaskFailed event since the last completed task, if any (a failing streak records its first
    failure only, unless the server itself failed a task in between)."""


def read_task_history(events: Iterable[HistoryEvent]) -> TaskHistory:
    build, last_good, failure = None, None, None
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            build = build or _build_of(event)
            last_good, failure = event.event_id, None
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            failure = event
    return TaskHistory(build, last_good, failure)


def _build_of(completed: HistoryEvent) -> str | None:
    attributes = completed.workflow_task_completed_event_attributes
    version = attributes.deployment_version
    if version.build_id:
        deployment = f" of deployment {version.deployment_name}" if version.deployment_name else ""
        return f"build {version.build_id}{deployment}"
    unversioned = attributes.worker_version.build_id
    return f"build {unversioned}" if unversioned else None


def is_transient(cause: WorkflowTaskFailedCause.ValueType) -> bool:
    return cause in _TRANSIENT_CAUSES


def failing_attempts(description: WorkflowExecutionDescription) -> int:
    """The pending workflow task's attempt when it is past the first one (a suspect), else 0; free: no history."""
    raw = description.raw_description
    if not raw.HasField("pending_workflow_task"):
        return 0
    attempt = raw.pending_workflow_task.attempt
    return attempt if attempt >= STUCK_FROM_ATTEMPT else 0


async def stuck_execution(client: Client, description: WorkflowExecutionDescription) -> StuckExecution | None:
    """Whether the open execution `description` describes is stuck, and why; None when it is not (or is closed).
    The history is read only for a suspect."""
    attempts = failing_attempts(description)
    if not attempts:
        return None
    recovery, history = await _recovery(client, description)
    failed = history.failure
    if failed is None:  # timed out, not failed: a worker died mid-task, and the next attempt goes to another one
        return None
    attributes = failed.workflow_task_failed_event_attributes
    if is_transient(attributes.cause):
        return None
    since = failed.event_time.ToDatetime(UTC)
    cause = WorkflowTaskFailedCause.Name(attributes.cause).removeprefix(_CAUSE_PREFIX)
    message = await failure_text(description.data_converter, attributes.failure)
    return StuckExecution(
        recovery,
        failing=f"workflow task failing since {_moment(since)} ({attempts} attempts)",
        cause=f"{cause}: {message}",
    )


async def stuck_from_query_failure(
    client: Client, description: WorkflowExecutionDescription, err: WorkflowQueryFailedError
) -> StuckExecution:
    """A query the worker could not answer because it cannot rebuild the workflow from its history: the same fault as
    a failing workflow task, seen before any task failed (the next one will)."""
    failure = query_failure(err)
    converter = description.data_converter
    message = await failure_text(converter, failure) if failure is not None else _shortened(err.message)
    recovery, _ = await _recovery(client, description)
    return StuckExecution(
        recovery, failing="its workflow cannot be rebuilt from its history to answer a query", cause=message
    )


def is_failed_task_refusal(err: RPCError) -> bool:
    """The server's refusal to query an execution whose workflow task is failing ("Workflow Task in failed state")."""
    return err.status == RPCStatusCode.FAILED_PRECONDITION


async def find_stuck(client: Client, executions: Iterable[WorkflowExecution]) -> list[StuckExecution]:
    """The stuck ones among `executions` (the open ones are checked; closed ones are skipped), in no set order."""
    gate = asyncio.Semaphore(DESCRIBE_CONCURRENCY)

    async def check(execution: WorkflowExecution) -> StuckExecution | None:
        async with gate:
            try:
                description = await client.get_workflow_handle(execution.id, run_id=execution.run_id).describe()
                return await stuck_execution(client, description)
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:  # deleted since it was listed: nothing left to judge
                    return None
                raise

    running = [execution for execution in executions if execution.status == WorkflowExecutionStatus.RUNNING]
    found = await asyncio.gather(*(check(execution) for execution in running))
    return [stuck for stuck in found if stuck is not None]


async def stuck_orders(client: Client, executions: Iterable[WorkflowExecution]) -> dict[str, StuckExecution]:
    """The stuck orders among `executions` (only the open ones are looked at), by order id."""
    return {found.workflow_id.removeprefix(WORKFLOW_ID_PREFIX): found for found in await find_stuck(client, executions)}


async def open_executions(client: Client, query: str) -> list[WorkflowExecution]:
    """The open executions matching the visibility `query` (which need not say "open" itself)."""
    return [execution async for execution in client.list_workflows(f'({query}) AND ExecutionStatus="Running"')]


async def _recovery(client: Client, description: WorkflowExecutionDescription) -> tuple[Recovery, TaskHistory]:
    handle = client.get_workflow_handle(description.id, run_id=description.run_id)
    history = read_task_history([event async for event in handle.fetch_history_events()])
    recovery = Recovery(
        description.namespace, description.id, description.run_id, history.build, history.last_good_task
    )
    return recovery, history


def query_failure(err: WorkflowQueryFailedError) -> Failure | None:
    """The failure the worker answered the query with, as the server passed it on (the SDK keeps only its message,
    which the failure converter may have replaced with "Encoded failure"; the RPC error it came from is the context)."""
    rpc = err.__context__
    if not isinstance(rpc, RPCError):
        return None
    for detail in rpc.grpc_status.details:
        refusal = QueryFailedFailure()
        if detail.Unpack(refusal) and refusal.HasField("failure"):
            return refusal.failure
    return None


async def failure_text(converter: DataConverter, failure: Failure) -> str:
    """A failure a worker reported, readable on one line: decrypted with `converter` (the worker's failure converter
    moves the message into the encrypted attributes), with its causes (the SDK's "Failed decoding arguments" says
    little; the validation error under it says which model), cut short; what the server shows if `converter` cannot
    decrypt it."""
    decoded = Failure()
    decoded.CopyFrom(failure)
    try:
        error: BaseException | None = await converter.decode_failure(decoded)
    except Exception:  # noqa: BLE001 - keys that cannot read it: the plain message is still a clue
        return _shortened(failure.message)
    messages = []
    while error is not None:
        messages.append(str(error))
        error = error.__cause__
    return _shortened(" <- ".join(messages))


def _shortened(message: str) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= _MESSAGE_CHARS else flat[: _MESSAGE_CHARS - 1] + "…"


def _moment(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
