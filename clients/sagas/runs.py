"""Running declared sagas: what both doors call to start a run, read its progress and resume it.

A run's id is its workflow id, `saga-<name>-<the definition's id template rendered over the input>`: starting the same
input again attaches to the run already started (never a second one, even after it closed), another input under the
same id is refused and starts nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from temporalio.client import (
    Client,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from cadenza.codec import KeyRing
from cadenza.errors import CadenzaError, InvalidInput
from cadenza.failure_types import SAGA_COMPENSATED
from cadenza.search_attributes import SAGA_STATUS, saga_search_attributes
from cadenza.settings import settings
from clients.orders import decided, signed
from clients.results import result_or_carried
from clients.status_query import NoWorkerPolls, ask_status
from workflows.declared_saga import RETRY_UPDATE, DeclaredSagaWorkflow
from workflows.models import OperatorRetry
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SAGA_WORKFLOW_ID_PREFIX, SagaProgress, SagaRun, SagaState
from workflows.saga_templates import TemplateError, render

FINGERPRINT_MEMO = "saga_input_fingerprint"
# What a rendered run id may hold: it is a workflow id, one segment of /sagas/{name}/runs/{run_id}, and the head of
# every idempotency key the run sends in an HTTP header, which only takes ASCII.
RUN_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
DEFINITION_MEMO = "saga_definition_hash"


class InvalidSagaInput(InvalidInput):
    """A run's input that its definition's input schema refuses; the message names each field."""

    next_step = "Fix the input (the definition's `input` schema says what it takes) and run again."


class RunIdTaken(CadenzaError, ValueError):
    """Another input was already started under this run id: nothing new was started."""

    def __init__(self, run_id: str, stored: str | None) -> None:
        held = f" (it holds {stored})" if stored else ""
        super().__init__(
            f"Run {run_id} was already started with a different input{held}; nothing new was started. "
            "Change what the definition's `id` is made of for a new run."
        )
        self.run_id = run_id


class RunNotFound(CadenzaError, LookupError):
    """No run under this id (in this namespace): nothing was done."""

    def __init__(self, run_id: str, namespace: str) -> None:
        super().__init__(f"No saga run {run_id!r} in namespace {namespace}: nothing was done. Check the id.")
        self.run_id = run_id


class RunClosed(CadenzaError, RuntimeError):
    """The run has already ended: cancelling it would change nothing, and its outcome is final."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"Run {run_id} has already ended ({state}); nothing was cancelled.")
        self.run_id = run_id
        self.state = state


class NotNeedingAttention(CadenzaError, RuntimeError):
    """The run is not in needs_attention: it has no failed undo (or post-pivot step) to retry; nothing was retried."""

    def __init__(self, run_id: str, state: str) -> None:
        super().__init__(f"Run {run_id} is {state}, not needs_attention: there is nothing to retry.")
        self.run_id = run_id
        self.state = state


def input_problems(definition: SagaDefinition, run_input: Any) -> list[tuple[str, str]]:
    """Each field of `run_input` its definition's input schema refuses, as (`a.0.b`, what is wrong); empty when taken.
    The whole input is named `(the input)`."""
    problems = sorted(
        Draft202012Validator(definition.input_schema).iter_errors(run_input), key=lambda error: list(error.path)
    )
    named = [(".".join(str(part) for part in error.path) or "(the input)", error.message) for error in problems]
    if not named and not isinstance(run_input, dict):
        named.append(("(the input)", "must be a JSON object"))
    return named


def validate_input(definition: SagaDefinition, run_input: Any) -> dict[str, Any]:
    """`run_input` if its definition's input schema accepts it; else `InvalidSagaInput` naming every refused field."""
    if problems := input_problems(definition, run_input):
        lines = [f"  - {field}: {message}" for field, message in problems]
        raise InvalidSagaInput(f"The input of saga {definition.name} is refused:\n" + "\n".join(lines))
    assert isinstance(run_input, dict)
    return run_input


def run_id_for(definition: SagaDefinition, run_input: dict[str, Any]) -> str:
    """The run's workflow id: `saga-<name>-<rendered id>`."""
    try:
        rendered = render(definition.id, {"input": run_input})
    except TemplateError as err:
        raise InvalidSagaInput(f"The run id of saga {definition.name} cannot be made from the input: {err}") from None
    if not RUN_ID_PART.fullmatch(str(rendered)):
        raise InvalidSagaInput(
            f"The run id of saga {definition.name} made from the input, {str(rendered)!r}, is not usable: it may hold "
            "only letters, digits and . _ : @ - (starting with a letter or digit, at most 128). It becomes the run's "
            "workflow id, URL path segment and the idempotency key the services receive in a header (ASCII only). "
            "Fix the input fields the definition's `id` is made of."
        )
    return f"{SAGA_WORKFLOW_ID_PREFIX}{definition.name}-{rendered}"


def input_fingerprint(run_input: dict[str, Any]) -> str:
    canonical = json.dumps(run_input, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_handle(client: Client, run_id: str) -> WorkflowHandle[DeclaredSagaWorkflow, SagaProgress]:
    return client.get_workflow_handle_for(DeclaredSagaWorkflow.run, run_id)


@dataclass(frozen=True)
class StartedRun:
    handle: WorkflowHandle[DeclaredSagaWorkflow, SagaProgress]
    duplicate: bool
    """True when this input had been started before under the same id: nothing new was started."""
    summary: str | None = None
    """The run's summary in the Web UI, as this start rendered it."""

    @property
    def run_id(self) -> str:
        return self.handle.id


async def start_run(
    client: Client,
    definition: SagaDefinition,
    run_input: Any,
    *,
    task_queue: str | None = None,
    eager_start: bool = True,
) -> StartedRun:
    """Start a run of `definition` over `run_input` (checked against its input schema first), or attach to the one
    already started for the same input. Another input under the same id raises `RunIdTaken` and starts nothing."""
    checked = validate_input(definition, run_input)
    run_id = run_id_for(definition, checked)
    try:
        summary = str(render(definition.summary, {"input": checked}))
    except TemplateError:
        summary = run_id  # lint checks the summary's references; a run is not refused for its label
    try:
        handle = await client.start_workflow(
            DeclaredSagaWorkflow.run,
            SagaRun(definition=definition, input=checked),
            id=run_id,
            task_queue=task_queue or settings().task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=summary,
            search_attributes=saga_search_attributes(definition.name, SagaState.RUNNING.value),
            memo={FINGERPRINT_MEMO: input_fingerprint(checked), DEFINITION_MEMO: definition.content_hash},
            request_eager_start=eager_start,
        )
        return StartedRun(handle, duplicate=False, summary=summary)
    except WorkflowAlreadyStartedError as err:
        existing = client.get_workflow_handle_for(DeclaredSagaWorkflow.run, run_id, run_id=err.run_id)
        description = await existing.describe()
        if await description.memo_value(FINGERPRINT_MEMO, None, type_hint=str) != input_fingerprint(checked):
            raise RunIdTaken(run_id, await description.static_summary()) from None
        return StartedRun(existing, duplicate=True)


@dataclass(frozen=True)
class RunView:
    """A run as the doors show it: its own progress plus Temporal's view of the execution."""

    run_id: str
    execution_status: str
    progress: SagaProgress | None
    summary: str | None = None
    note: str | None = None

    @property
    def state(self) -> str:
        """The run's state if its progress could be read, else its execution's status (lower case)."""
        return self.progress.state.value if self.progress else self.execution_status.lower()


async def run_result(handle: WorkflowHandle[Any, Any]) -> SagaProgress:
    """The run's final progress, completed or compensated (`SagaCompensated` carries it). Raises `WorkflowFailureError`
    for a cancelled run (it has no result)."""
    return await result_or_carried(handle, SAGA_COMPENSATED, SagaProgress)


async def describe_run(client: Client, run_id: str) -> RunView:
    """The run as the doors show it. Raises `RunNotFound` for an unknown id."""
    handle = run_handle(client, run_id)
    description = await _describe(client, handle)
    status = description.status.name if description.status else "UNKNOWN"
    summary = await description.static_summary()
    progress, note = await _progress_of(client, handle, description)
    return RunView(run_id, status, progress, summary, note)


async def wait_for_run(client: Client, run_id: str) -> RunView:
    """The run once its execution has closed (completed, compensated, cancelled after compensating)."""
    handle = run_handle(client, run_id)
    try:
        await run_result(handle)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RunNotFound(run_id, client.namespace) from None
        raise
    except WorkflowFailureError:
        pass  # a cancelled run (compensated first): its progress says how it ended
    return await describe_run(client, run_id)


async def cancel_run(client: Client, run_id: str) -> str:
    """Ask a running run to cancel; returns what will happen, in one sentence. Raises `RunNotFound`, or `RunClosed`
    with its state for a run that has ended (a cancel would be a silent no-op). After its pivot a run goes forward to
    completion whatever is asked: the sentence says so."""
    view = await describe_run(client, run_id)
    if view.execution_status != "RUNNING":
        raise RunClosed(run_id, view.state)
    await run_handle(client, run_id).cancel()
    progress = view.progress
    if progress is not None and progress.pivoted:
        return f"Run {run_id} is past its pivot: the cancellation is recorded, and it goes forward to completion."
    if progress is not None and progress.state in (SagaState.COMPENSATING, SagaState.NEEDS_ATTENTION):
        return (
            f"Run {run_id} is already {progress.state.value}: the cancellation is recorded, and its undos run to the "
            "end first."
        )
    return f"Cancellation requested for {run_id}; what its steps did is being undone."


async def retry_run(
    client: Client,
    run_id: str,
    *,
    operator: str,
    keys: KeyRing | None = None,
    description: WorkflowExecutionDescription | None = None,
) -> SagaProgress:
    """Resume a run in needs_attention on behalf of `operator` (signed, like an order's retry); answers its progress
    once it acted on the retry. Raises `RunNotFound`, or `NotNeedingAttention` with its state (nothing retried)."""
    handle = run_handle(client, run_id)
    description = description or await _describe(client, handle)
    state = description.typed_search_attributes.get(SAGA_STATUS) or (
        description.status.name.lower() if description.status else "unknown"
    )
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise NotNeedingAttention(run_id, state)  # closed: in the run's words, as clients/orders.py does for orders
    retry = signed(RETRY_UPDATE, run_id, OperatorRetry(operator=operator), keys)
    try:
        # As in clients/orders.py: the SDK's `update(name=...)` overload types the result as a coroutine.
        return await decided(handle.execute_update(DeclaredSagaWorkflow.retry_compensation, retry))  # type: ignore[arg-type]
    except (WorkflowUpdateFailedError, RPCError) as err:
        # The validator's refusal, or (NOT_FOUND) the run closed since: either way it was not waiting for an operator.
        if isinstance(err, RPCError) and err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise NotNeedingAttention(run_id, state) from None


async def describe_execution(client: Client, run_id: str) -> WorkflowExecutionDescription:
    """Temporal's description of the run's execution (no worker asked). Raises `RunNotFound` for an unknown id."""
    return await _describe(client, run_handle(client, run_id))


async def _describe(client: Client, handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionDescription:
    try:
        return await handle.describe()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise RunNotFound(handle.id, client.namespace) from None


async def _progress_of(
    client: Client,
    handle: WorkflowHandle[DeclaredSagaWorkflow, SagaProgress],
    description: WorkflowExecutionDescription,
) -> tuple[SagaProgress | None, str | None]:
    # A closed run's result is its final progress, in its history: read without asking a worker. A compensated run's
    # execution failed, carrying it; a cancelled one has none and is queried.
    if description.status in (WorkflowExecutionStatus.COMPLETED, WorkflowExecutionStatus.FAILED):
        try:
            return await run_result(handle), None
        except WorkflowFailureError:
            pass  # a failure that carries no progress: ask the worker
    try:
        return await ask_status(client, handle, DeclaredSagaWorkflow.status, description=description), None
    except NoWorkerPolls as err:
        return None, f"{err}: {err.next_step}"
    except RPCError:
        return None, "no worker is answering queries: start a worker"
