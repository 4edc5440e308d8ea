"""`/sagas/{name}/runs`: start, follow, cancel and resume runs of the declared sagas the API serves.

One set of routes per definition (CADENZA_SAGAS_DIR, clients/sagas/folder.py), each with the definition's own input
schema as its request body: the OpenAPI document states exactly what each saga takes, so a generated client sends only
inputs the API accepts. The operations are the CLI's (clients/sagas/runs.py); the doors around them are the Order
API's: API keys with the `sagas:*` scopes, problem documents, the rate limits, `Prefer: wait=N`, one update in flight
per run, 503 while Temporal cannot be reached.

Keys bound to a customer are refused here (403): a saga's input has no customer the API could check it against, so
such a key could otherwise start and read runs of every customer. Sagas are for keys that act for none (a backend,
an operator).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Path, Request, Response
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowFailureError

from api.auth import Principal, require
from api.holds import Holds
from api.preferences import PREFER_PATTERN, wait_preference
from api.temporal import TemporalGate, unavailable_as_503
from api.update_guard import UpdateGuard
from cadenza.problems import InvalidField, Problem, problem_responses
from cadenza.settings import workflow_ui_link
from clients.sagas.runs import (
    InvalidSagaInput,
    NotNeedingAttention,
    RunClosed,
    RunIdTaken,
    RunNotFound,
    RunView,
    cancel_run,
    describe_execution,
    describe_run,
    input_problems,
    retry_run,
    run_handle,
    run_result,
    start_run,
)
from workflows.saga_definition import SagaDefinition
from workflows.saga_run_models import SAGA_WORKFLOW_ID_PREFIX, SagaProgress

Writer = Annotated[Principal, Depends(require("sagas:write"))]
Reader = Annotated[Principal, Depends(require("sagas:read"))]
Operator = Annotated[Principal, Depends(require("sagas:operate"))]
RunId = Annotated[str, Path(min_length=1, max_length=1000, description="The run id the start answered (`run_id`)")]

SAGA_PREFER_DESCRIPTION = (
    "RFC 7240. `wait=N` waits up to N seconds (a number; more than 60 waits 60) for the run to end. `wait=payment` "
    "is the Order API's and answers at once here. Other preferences are ignored; a `wait` with any other value is "
    "refused (422). Over the key's limit of held requests the run is answered at once, without `Preference-Applied`."
)


class SagaRunLinks(BaseModel):
    self: str = Field(description="The run")
    web_ui: str = Field(description="The run's execution in the Temporal Web UI")


class SagaRunView(BaseModel):
    """A run: its own progress (the workflow's, as `cadenza saga status` shows it) with Temporal's view."""

    run_id: str
    saga: str
    state: str = Field(description="The run's state (running, compensating, needs_attention, completed, …)")
    execution_status: str = Field(
        description="Temporal's execution status: RUNNING, COMPLETED, FAILED (when compensated), CANCELED, …"
    )
    closed: bool
    summary: str | None = None
    note: str | None = Field(default=None, description="Why the progress is missing, if it is")
    progress: SagaProgress | None = Field(description="Null when no worker could be asked yet")
    links: SagaRunLinks


class SagaAccepted(BaseModel):
    """A request taken on: what will happen, and where to follow it."""

    run_id: str
    detail: str
    links: SagaRunLinks


@dataclass(frozen=True)
class RunAddress:
    """A run as the update guard (api/update_guard.py) names it."""

    order_id: str
    workflow_id: str
    path: str


def saga_router(definitions: dict[str, SagaDefinition]) -> APIRouter:
    """The routes of every served saga, under `/sagas/<its name>/runs`."""
    router = APIRouter(prefix="/sagas", tags=["sagas"])
    for name in sorted(definitions):
        _routes(router, definitions[name])
    return router


def _routes(router: APIRouter, definition: SagaDefinition) -> None:
    name = definition.name
    runs = f"/{name}/runs"
    tag = name.replace("-", "_")

    @router.post(
        runs,
        status_code=202,
        response_model=SagaRunView,
        operation_id=f"start_{tag}_run",
        summary=f"Start a run of saga {name} (the same input again answers with the run already started)",
        responses={
            200: {"model": SagaRunView, "description": "The run ended within the wait"},
            **problem_responses(401, 403, 409, 413, 415, 422, 429, 503),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": definition.input_schema}},
                "description": f"The input of saga {name}, as its definition's input schema declares it",
            }
        },
    )
    async def start(
        principal: Writer,
        request: Request,
        response: Response,
        prefer: Annotated[
            str | None, Header(description=SAGA_PREFER_DESCRIPTION, json_schema_extra={"pattern": PREFER_PATTERN})
        ] = None,
    ) -> SagaRunView:
        _no_customer_keys(principal)
        run_input = await _input(request, definition)
        wait = wait_preference(prefer)
        seconds = wait if isinstance(wait, float) else None
        holds: Holds = request.app.state.holds
        release = holds.waits.take(principal.key_id) if seconds is not None else None
        if release is None:
            seconds = None  # over the key's cap of held requests: answered at once, without Preference-Applied
        client = await _client(request)
        try:
            with unavailable_as_503():
                view = await _started(client, request, definition, run_input, seconds)
        except RunIdTaken as err:
            raise Problem(409, "Run id already used", str(err)) from None
        except InvalidSagaInput as err:
            raise Problem(422, "Invalid request", str(err)) from None
        finally:
            if release is not None:
                release()
        response.headers["Location"] = view.links.self
        if seconds is not None:
            response.headers["Preference-Applied"] = f"wait={seconds:g}"
        if view.closed:
            response.status_code = 200
        return view

    @router.get(
        runs + "/{run_id}",
        response_model=SagaRunView,
        operation_id=f"get_{tag}_run",
        responses=problem_responses(401, 403, 404, 422, 429, 503),
        summary=f"Progress of a running or ended run of saga {name}",
    )
    async def get_run(run_id: RunId, principal: Reader, request: Request) -> SagaRunView:
        client = await _client_for_run(definition, run_id, principal, request)
        with unavailable_as_503(), _found(definition, run_id):
            return _view(definition, await describe_run(client, run_id), client.namespace)

    @router.post(
        **_acting(
            runs + "/{run_id}/cancel",
            f"cancel_{tag}_run",
            f"Cancel a run of saga {name}: what it did is undone (past its pivot it goes forward instead)",
        )
    )
    async def cancel(run_id: RunId, principal: Writer, request: Request) -> SagaAccepted:
        client = await _client_for_run(definition, run_id, principal, request)
        with unavailable_as_503(), _found(definition, run_id):
            try:
                detail = await cancel_run(client, run_id)
            except RunClosed as err:
                said = f"{err} See GET {_path(definition, run_id)}." if "sagas:read" in principal.scopes else str(err)
                raise Problem(409, "Run already ended", said) from None
        return SagaAccepted(run_id=run_id, detail=detail, links=_links(definition, run_id, client.namespace))

    @router.post(
        **_acting(
            runs + "/{run_id}/retry-compensation",
            f"retry_{tag}_compensation",
            f"For operators: retry the failed undos of a run of saga {name} in needs_attention",
        )
    )
    async def retry_compensation(run_id: RunId, principal: Operator, request: Request) -> SagaAccepted:
        client = await _client_for_run(definition, run_id, principal, request)
        guard: UpdateGuard = request.app.state.update_guard
        address = RunAddress(order_id=run_id, workflow_id=run_id, path=_path(definition, run_id))
        with unavailable_as_503(), _found(definition, run_id):
            description = await describe_execution(client, run_id)
            async with guard.update(address, description):  # type: ignore[arg-type]
                try:
                    progress = await retry_run(
                        client, run_id, operator=f"api-key:{principal.name}", description=description
                    )
                except NotNeedingAttention as err:
                    raise Problem(409, "Not waiting for an operator", str(err), state=err.state) from None
        return SagaAccepted(
            run_id=run_id,
            detail=f"Retrying the failed undos of {run_id}: now {progress.state.value}.",
            links=_links(definition, run_id, client.namespace),
        )


def _acting(path: str, operation_id: str, summary: str) -> dict[str, Any]:
    """The route options of a request that acts on a run: taken on (202), or refused for the run's state (409)."""
    return {
        "path": path,
        "status_code": 202,
        "response_model": SagaAccepted,
        "operation_id": operation_id,
        "responses": problem_responses(401, 403, 404, 409, 422, 429, 503),
        "summary": summary,
    }


async def _started(
    client: Client, request: Request, definition: SagaDefinition, run_input: dict[str, Any], seconds: float | None
) -> SagaRunView:
    started = await start_run(client, definition, run_input, task_queue=request.app.state.task_queue, eager_start=False)
    namespace = client.namespace
    if not started.duplicate and not seconds:  # just started: nothing has happened yet, no need to ask the worker
        progress = SagaProgress(name=definition.name, content_hash=definition.content_hash)
        return _view(definition, RunView(started.run_id, "RUNNING", progress, started.summary), namespace)
    if seconds:
        # Still running, or cancelled (after compensating): its progress says which.
        with contextlib.suppress(TimeoutError, WorkflowFailureError):
            await asyncio.wait_for(run_result(run_handle(client, started.run_id)), seconds)
    return _view(definition, await describe_run(client, started.run_id), namespace)


async def _input(request: Request, definition: SagaDefinition) -> dict[str, Any]:
    """The request's body as the saga's input: JSON, and what the definition's input schema takes (422 naming every
    refused field otherwise)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        said = media_type or "no type"
        raise Problem(415, "Unsupported media type", f"Send the input as application/json, not {said}.")
    try:
        run_input = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        message = f"not JSON: {err}"
        raise Problem(
            422, "Invalid request", f"The body is {message}", errors=[InvalidField(field="body", message=message)]
        ) from None
    if problems := input_problems(definition, run_input):
        fields = [InvalidField(field=field, message=message) for field, message in problems]
        raise Problem(
            422,
            "Invalid request",
            f"The input of saga {definition.name} is refused: "
            + "; ".join(f"{field.field}: {field.message}" for field in fields),
            errors=fields,
        )
    assert isinstance(run_input, dict)
    return run_input


async def _client_for_run(definition: SagaDefinition, run_id: str, principal: Principal, request: Request) -> Client:
    """The client, once the key and the run id are known to fit this saga's routes."""
    _no_customer_keys(principal)
    _of_this_saga(definition, run_id)
    return await _client(request)


def _no_customer_keys(principal: Principal) -> None:
    if principal.customer_id is not None:
        raise Problem(
            403,
            "Not for a customer's key",
            f"This API key acts for customer {principal.customer_id}, and sagas are not scoped to a customer: use a "
            "key bound to no customer (cadenza api-key create --scope sagas:write …).",
        )


def _of_this_saga(definition: SagaDefinition, run_id: str) -> None:
    # Any other id is no run of this saga (an order's, another saga's): answered as an unknown one, asking nothing.
    if not run_id.startswith(f"{SAGA_WORKFLOW_ID_PREFIX}{definition.name}-"):
        raise _not_found(definition, run_id)


class _found:
    """Turns `RunNotFound` into the 404 problem."""

    def __init__(self, definition: SagaDefinition, run_id: str) -> None:
        self._definition, self._run_id = definition, run_id

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        if isinstance(error, RunNotFound):
            raise _not_found(self._definition, self._run_id) from None


def _not_found(definition: SagaDefinition, run_id: str) -> Problem:
    return Problem(
        404,
        "Run not found",
        f"No run {run_id!r} of saga {definition.name}. Check the id: it is the `run_id` the start answered.",
    )


async def _client(request: Request) -> Client:
    gate: TemporalGate = request.app.state.temporal
    return await gate.client()


def _path(definition: SagaDefinition, run_id: str) -> str:
    return f"/sagas/{definition.name}/runs/{quote(run_id, safe='')}"


def _links(definition: SagaDefinition, run_id: str, namespace: str) -> SagaRunLinks:
    return SagaRunLinks(self=_path(definition, run_id), web_ui=workflow_ui_link(namespace, run_id))


def _view(definition: SagaDefinition, view: RunView, namespace: str) -> SagaRunView:
    return SagaRunView(
        run_id=view.run_id,
        saga=definition.name,
        state=view.state,
        execution_status=view.execution_status,
        closed=view.execution_status != "RUNNING",
        summary=view.summary,
        note=view.note,
        progress=view.progress,
        links=_links(definition, view.run_id, namespace),
    )
