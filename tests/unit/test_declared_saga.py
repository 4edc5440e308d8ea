"""DeclaredSagaWorkflow on the time-skipping test server, with the generic activity faked by services that keep what
each key did: a pivot (nothing undone after it), covered_by, undo by lookup, and needs_attention until an operator's
retry."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import unquote

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.unit.production_worker import result_of
from workflows.activity_types import SAGA_CALLS
from workflows.declared_saga import DeclaredSagaWorkflow
from workflows.models import CompensationStatus, OperatorRetry
from workflows.saga_definition import Call, Lookup, Request, SagaDefinition, Step, Undo
from workflows.saga_run_models import OperationAnswer, OperationCall, SagaProgress, SagaRun, SagaState


def _call(service: str, method: str, route: str, **request: Any) -> Call:
    return Call(
        api=service,
        service=service,
        operation_id=f"{method.lower()}{route.replace('/', '_')}",
        method=method,
        path=route,
        key_header=None if method == "GET" else "Idempotency-Key",
        request=Request(**request),
    )


def _fence(service: str, step: str) -> Call:
    return _call(service, "POST", "/fences", body={"key": f"${{steps.{step}.key}}"})


def _fenced(step: str, service: str, **more: Any) -> Undo:
    return Undo(call=_fence(service, step), when_unknown="fence", needs_result=False, **more)


class Services:
    """Fake downstream APIs: what each key committed, what was undone, and the calls in order."""

    def __init__(self, *, refuse: set[str] = frozenset(), lose_reply: set[str] = frozenset()) -> None:
        self.live: dict[str, str] = {}
        self.calls: list[str] = []
        self.refuse = set(refuse)
        self.lose_reply = set(lose_reply)

    def activities(self) -> list[Any]:
        def make(name: str) -> Any:
            @activity.defn(name=name)
            async def call(request: OperationCall) -> OperationAnswer:
                return self.answer(request)

            return call

        return [make(activity_type.name) for activity_type in SAGA_CALLS]

    def answer(self, request: OperationCall) -> OperationAnswer:
        where = f"{request.service} {request.method} {request.path}"
        self.calls.append(where)
        if where in self.refuse:
            raise ApplicationError(f"{where} refused", type="Refused", non_retryable=True)
        if request.path == "/fences":
            assert isinstance(request.body, dict)
            undone = self.live.pop(str(request.body["key"]), None)
            return OperationAnswer(status=200, body={"undone": undone is not None, "detail": f"fenced {undone}"})
        if request.method == "GET":  # the lookup: every live booking
            body = [{"id": key, "what": what} for key, what in self.live.items()]
            return OperationAnswer(status=200, body={"items": body})
        if request.method == "DELETE":
            self.live.pop(unquote(request.path.rsplit("/", 1)[1]), None)
            return OperationAnswer(status=204, body=None)
        assert request.key is not None
        self.live[request.key] = where
        if where in self.lose_reply:
            raise ApplicationError("connection reset after the request was sent", non_retryable=True)
        return OperationAnswer(status=201, body={"id": request.key, "what": where})


def _definition(*steps: Step) -> SagaDefinition:
    return SagaDefinition(name="trip", input_schema={"type": "object"}, id="${input.trip}", summary="trip", steps=steps)


async def _run(env: Any, services: Services, definition: SagaDefinition) -> tuple[Worker, WorkflowHandle[Any, Any]]:
    task_queue = f"sagas-{uuid.uuid4().hex}"
    worker = Worker(
        env.client,
        task_queue=task_queue,
        workflows=[DeclaredSagaWorkflow],
        activities=services.activities(),
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    handle = await env.client.start_workflow(
        DeclaredSagaWorkflow.run,
        SagaRun(definition=definition, input={"trip": "lisbon"}),
        id=f"saga-trip-{uuid.uuid4().hex}",
        task_queue=task_queue,
    )
    return worker, handle


async def _until(handle: WorkflowHandle[Any, Any], state: SagaState) -> SagaProgress:
    for _ in range(200):
        progress: SagaProgress = await handle.query(DeclaredSagaWorkflow.status)
        if progress.state == state:
            return progress
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached {state}")


FLIGHT = Step(id="flight", call=_call("flight", "POST", "/bookings"), undo=_fenced("flight", "flight"))
HOTEL = Step(id="hotel", call=_call("hotel", "POST", "/stays"), undo=_fenced("hotel", "hotel"))


async def test_after_a_pivot_nothing_is_undone_and_later_steps_finish_after_an_operator_retry(time_skipping_env):
    pay = Step(id="pay", call=_call("payment", "POST", "/charges"), pivot=True)
    car = Step(id="car", call=_call("car", "POST", "/rentals"), undo=_fenced("car", "car"))
    services = Services(refuse={"car POST /rentals"})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, pay, car))
    async with worker:
        stuck = await _until(handle, SagaState.NEEDS_ATTENTION)
        assert (stuck.pivoted, stuck.failed_step, stuck.compensations) == (True, "car", [])
        services.refuse.clear()
        await handle.execute_update(DeclaredSagaWorkflow.retry_compensation, OperatorRetry(operator="ops"))
        progress = await result_of(handle)
    assert progress.state == SagaState.COMPLETED
    assert progress.completed_steps == ["flight", "pay", "car"]
    assert "/fences" not in " ".join(services.calls)  # nothing undone, before the pivot or after it
    assert len(services.live) == 3


async def test_a_step_covered_by_another_undo_is_fenced_by_it(time_skipping_env):
    # Confirming has no undo of its own: the booking's undo fences the confirmation's key first, then its own.
    booking = Step(
        id="book",
        call=_call("hotel", "POST", "/stays"),
        undo=_fenced("book", "hotel", before=(_fence("hotel", "confirm"),)),
    )
    confirm = Step(
        id="confirm",
        call=_call("hotel", "POST", "/stays/{id}/confirm", path={"id": "${steps.book.result.id}"}),
        covered_by="book",
    )
    refused = Step(id="car", call=_call("car", "POST", "/rentals"), undo=_fenced("car", "car"))
    services = Services(refuse={"car POST /rentals"})
    worker, handle = await _run(time_skipping_env, services, _definition(booking, confirm, refused))
    async with worker:
        progress = await result_of(handle)
    assert (progress.state, progress.failed_step, progress.error_type) == (SagaState.COMPENSATED, "car", "Refused")
    assert [record.action for record in progress.compensations] == ["car", "book"]
    assert services.live == {}  # the booking and its confirmation both undone
    assert services.calls[-2:] == ["hotel POST /fences", "hotel POST /fences"]


# The hotel offers no fence: its undo looks the stay up by the step's key and deletes the one found.
HOTEL_BY_LOOKUP = Step(
    id="hotel",
    call=_call("hotel", "POST", "/stays"),
    undo=Undo(
        call=_call("hotel", "DELETE", "/stays/{id}", path={"id": "${steps.hotel.result.id}"}),
        when_unknown="lookup",
        needs_result=True,
        lookup=Lookup(call=_call("hotel", "GET", "/stays"), items=("items",), match={"id": "${steps.hotel.key}"}),
    ),
)


async def test_an_undo_by_lookup_finds_what_a_lost_reply_did_and_undoes_it(time_skipping_env):
    services = Services(lose_reply={"hotel POST /stays"})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL_BY_LOOKUP))
    async with worker:
        progress = await result_of(handle)
    assert (progress.state, progress.failed_step) == (SagaState.COMPENSATED, "hotel")
    undo = {record.action: record for record in progress.compensations}
    assert undo["hotel"].status == CompensationStatus.DONE
    assert services.live == {}
    assert [call for call in services.calls if call.startswith("hotel")] == [
        "hotel POST /stays",
        "hotel GET /stays",
        f"hotel DELETE /stays/{handle.id.replace('/', '%2F')}%2Fhotel%2F{(await handle.describe()).run_id}",
    ]


async def test_a_lookup_that_finds_nothing_undoes_nothing(time_skipping_env):
    services = Services(refuse={"hotel POST /stays"})  # refused before anything committed
    worker, handle = await _run(time_skipping_env, services, _definition(HOTEL_BY_LOOKUP))
    async with worker:
        progress = await result_of(handle)
    [undo] = progress.compensations
    assert (undo.undone, undo.detail) == (False, "hotel: the lookup found nothing to undo")
    assert not any("DELETE" in call for call in services.calls)


async def test_an_undo_that_keeps_failing_waits_for_an_operator_then_finishes(time_skipping_env):
    services = Services(refuse={"hotel POST /stays", "flight POST /fences"})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL))
    async with worker:
        stuck = await _until(handle, SagaState.NEEDS_ATTENTION)
        assert [(record.action, record.status) for record in stuck.compensations] == [
            ("hotel", CompensationStatus.DONE),
            ("flight", CompensationStatus.FAILED),
        ]
        assert list(services.live.values()) == ["flight POST /bookings"]  # kept visible, never dropped
        services.refuse.clear()
        await handle.execute_update(DeclaredSagaWorkflow.retry_compensation, OperatorRetry(operator="ops"))
        progress = await result_of(handle)
    assert progress.state == SagaState.COMPENSATED
    assert services.live == {}


async def test_an_undo_that_cannot_be_rendered_is_recorded_as_failed_not_dropped(time_skipping_env):
    # Built in Python, past lint: the undo reads the step's result, which a refused step never had.
    hotel = Step(
        id="hotel",
        call=_call("hotel", "POST", "/stays"),
        undo=Undo(
            call=_call("hotel", "DELETE", "/stays/{id}", path={"id": "${steps.hotel.result.id}"}),
            when_unknown="fence",
            needs_result=False,
        ),
    )
    services = Services(refuse={"hotel POST /stays"})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, hotel))
    async with worker:
        stuck = await _until(handle, SagaState.NEEDS_ATTENTION)
        failed = {record.action: record for record in stuck.compensations}["hotel"]
        assert failed.status == CompensationStatus.FAILED and "has no 'result'" in (failed.detail or "")
        assert services.live == {}  # the flight's undo still ran
        await handle.terminate()
