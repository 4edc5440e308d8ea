"""DeclaredSagaWorkflow on the time-skipping test server, with the generic activity faked by services that keep what
each key did: a pivot (nothing undone after it), covered_by, undo by lookup, and needs_attention until an operator's
retry."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Literal
from urllib.parse import quote, unquote

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.first_attempts import make_saga_first_attempts
from tests.history_helpers import patch_ids, scheduled_activities
from tests.unit.production_worker import result_of
from workflows.activity_types import SAGA_CALLS, SAGA_FIRST_ATTEMPTS
from workflows.declared_saga import TEMPLATE_FAILED, DeclaredSagaWorkflow
from workflows.first_attempts import FirstAttemptsDone
from workflows.models import CompensationStatus, OperatorRetry
from workflows.saga_definition import Call, Lookup, Request, SagaDefinition, Step, Undo
from workflows.saga_run_models import (
    OperationAnswer,
    OperationCall,
    SagaFirstAttempts,
    SagaProgress,
    SagaRun,
    SagaState,
)


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


def _deleted(step: str, route: str, when_unknown: Literal["fence", "none"]) -> Undo:
    """An undo that deletes what the step made, by the id in its result (`needs_result` left False, as a definition
    built in Python past lint may: the tests show what the run does then)."""
    call = _call(step, "DELETE", route + "/{id}", path={"id": f"${{steps.{step}.result.id}}"})
    return Undo(call=call, when_unknown=when_unknown, needs_result=False)


class Services:
    """Fake downstream APIs: what each key committed, what was undone, and the calls in order."""

    def __init__(
        self,
        *,
        refuse: set[str] = frozenset(),
        lose_reply: set[str] = frozenset(),
        unavailable: dict[str, int] | None = None,
        slow: set[str] = frozenset(),
    ) -> None:
        self.live: dict[str, str] = {}
        self.calls: list[str] = []
        self.requests: list[OperationCall] = []
        """Every request, in call order (its key, its body, its profile)."""
        self.refuse = set(refuse)
        self.lose_reply = set(lose_reply)
        self.unavailable = dict(unavailable or {})
        """How many more times each call answers 503 (retryably) before it goes through."""
        self.slow = set(slow)
        """Calls answered after 100 ms (within a local attempt's deadline): a cancel can arrive meanwhile."""
        self.sent: list[str] = []
        """The calls the batch started, as they started."""
        self.batches: list[list[str]] = []
        """The steps of each batch of first attempts handed over, in order."""

    def activities(self) -> list[Any]:
        def make(name: str) -> Any:
            @activity.defn(name=name)
            async def call(request: OperationCall) -> OperationAnswer:
                return self.answer(request)

            return call

        # The real batch of first attempts (activities/first_attempts.py), over the same fake services.
        @activity.defn(name=SAGA_FIRST_ATTEMPTS.name)
        async def first_attempts(batch: SagaFirstAttempts) -> FirstAttemptsDone:
            self.batches.append([step.id for step in batch.steps])
            return await make_saga_first_attempts(batch, self.send)

        return [*(make(activity_type.name) for activity_type in SAGA_CALLS), first_attempts]

    async def send(self, request: OperationCall) -> OperationAnswer:
        where = f"{request.service} {request.method} {request.path}"
        self.sent.append(where)
        if where in self.slow:
            await asyncio.sleep(0.1)
        return self.answer(request)

    def answer(self, request: OperationCall) -> OperationAnswer:
        where = f"{request.service} {request.method} {request.path}"
        self.calls.append(where)
        self.requests.append(request)
        if self.unavailable.get(where):
            self.unavailable[where] -= 1
            raise ApplicationError(f"{where}: 503", type="ServiceUnavailable")
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
    hotel = Step(id="hotel", call=_call("hotel", "POST", "/stays"), undo=_deleted("hotel", "/stays", "fence"))
    services = Services(refuse={"hotel POST /stays"})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, hotel))
    async with worker:
        stuck = await _until(handle, SagaState.NEEDS_ATTENTION)
        failed = {record.action: record for record in stuck.compensations}["hotel"]
        assert failed.status == CompensationStatus.FAILED and "has no 'result'" in (failed.detail or "")
        assert services.live == {}  # the flight's undo still ran
        await handle.terminate()


# ---- first attempts together (FIRST_ATTEMPTS_TOGETHER_PATCH) ------------------------------------------------------

CAR = Step(id="car", call=_call("car", "POST", "/rentals"), undo=_fenced("car", "car"))


def _how_it_ended(progress: SagaProgress) -> tuple[SagaState, str | None, str | None]:
    return progress.state, progress.failed_step, progress.error_type


def _local_and_server_activities(history: WorkflowHistory) -> tuple[list[str], list[str]]:
    """The activities run inside a workflow task (a marker each) and those scheduled on the server, each in order."""
    local = scheduled_activities(history)
    server = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    for name in server:
        local.remove(name)
    return local, server


async def test_a_happy_runs_first_attempts_are_one_local_activity_and_one_patch_marker(time_skipping_env):
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL, CAR))
    async with worker:
        progress = await result_of(handle)
        history = await handle.fetch_history()
    assert progress.state == SagaState.COMPLETED and progress.completed_steps == ["flight", "hotel", "car"]
    assert services.batches == [["flight", "hotel", "car"]]
    assert _local_and_server_activities(history) == (["saga_first_attempts"], [])
    assert patch_ids(history) == ["saga-first-attempts-together"]  # implies compensated-saga-fails: one marker
    assert services.calls == ["flight POST /bookings", "hotel POST /stays", "car POST /rentals"]
    # Each step's result is its call's answer, as if its own local attempt had made it.
    assert progress.results["hotel"] == {"id": services.requests[1].key, "what": "hotel POST /stays"}


async def test_a_step_failing_retryably_in_the_batch_goes_to_the_server_with_the_same_key(time_skipping_env):
    services = Services(unavailable={"hotel POST /stays": 1})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL, CAR))
    async with worker:
        progress = await result_of(handle)
        history = await handle.fetch_history()
    assert progress.state == SagaState.COMPLETED
    # The batch stopped at the hotel; its retry was the server's; the car, never made in the batch, ran on its own.
    assert services.calls == ["flight POST /bookings", "hotel POST /stays", "hotel POST /stays", "car POST /rentals"]
    assert _local_and_server_activities(history) == (["saga_first_attempts", "call_operation"], ["call_operation"])
    first, retried = (request for request in services.requests if request.service == "hotel")
    assert (
        first.key == retried.key
        and first.key is not None
        and first.key.endswith("/hotel/" + (await handle.describe()).run_id)
    )


async def test_a_step_refused_for_good_in_the_batch_compensates_without_another_attempt(time_skipping_env):
    services = Services(refuse={"hotel POST /stays"})
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL, CAR))
    async with worker:
        progress = await result_of(handle)
        history = await handle.fetch_history()
    assert _how_it_ended(progress) == (SagaState.COMPENSATED, "hotel", "Refused")
    assert services.calls[:2] == ["flight POST /bookings", "hotel POST /stays"]
    assert "car POST /rentals" not in services.calls and services.live == {}
    assert _local_and_server_activities(history)[0] == ["saga_first_attempts"]  # the undos: server activities only
    assert {record.action for record in progress.compensations if record.status == CompensationStatus.DONE} == {
        "flight",
        "hotel",
        "car",
    }


async def test_a_replay_unsafe_step_is_never_in_a_batch(time_skipping_env):
    unsafe_car = CAR.model_copy(update={"replay_unsafe": True})
    ticket = Step(id="ticket", call=_call("flight", "POST", "/tickets"), pivot=True)
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL, unsafe_car, ticket))
    async with worker:
        progress = await result_of(handle)
        history = await handle.fetch_history()
    assert progress.state == SagaState.COMPLETED
    assert services.batches == [["flight", "hotel"]]  # stopped before the car: the ticket after it not either
    local, server = _local_and_server_activities(history)
    assert (local, server) == (["saga_first_attempts", "call_operation"], ["call_operation"])
    [car] = [request for request in services.requests if request.service == "car"]
    assert car.replay_unsafe  # the server's activity, whose ambiguous failure is final

    # First in the definition: no batch at all, the step goes straight to the server.
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(unsafe_car, FLIGHT, HOTEL))
    async with worker:
        assert (await result_of(handle)).state == SagaState.COMPLETED
        history = await handle.fetch_history()
    assert services.batches == []
    assert _local_and_server_activities(history) == (["call_operation", "call_operation"], ["call_operation"])


async def test_a_batched_request_gets_the_projected_result_of_an_earlier_step(time_skipping_env):
    booking = Step(
        id="book",
        call=_call("hotel", "POST", "/stays"),
        result={"stay": "${response.id}"},
        undo=_fenced("book", "hotel"),
    )
    confirm = Step(
        id="confirm",
        call=_call("hotel", "POST", "/stays/{id}/confirm", path={"id": "${steps.book.result.stay}"}),
        covered_by="book",
    )
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(booking, confirm))
    async with worker:
        progress = await result_of(handle)
        history = await handle.fetch_history()
    assert progress.state == SagaState.COMPLETED and services.batches == [["book", "confirm"]]
    stay = services.requests[0].key
    assert stay is not None and progress.results["book"] == {"stay": stay}
    assert services.calls[1] == f"hotel POST /stays/{stay.replace('/', '%2F')}/confirm"
    assert _local_and_server_activities(history) == (["saga_first_attempts"], [])


async def test_a_call_the_batch_cannot_render_fails_its_step_as_a_template_error(time_skipping_env):
    # Built in Python, past lint: the confirmation reads a field the booking's answer does not have.
    confirm = Step(
        id="confirm",
        call=_call("hotel", "POST", "/stays/{id}/confirm", path={"id": "${steps.flight.result.nope}"}),
    )
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, confirm, CAR))
    async with worker:
        progress = await result_of(handle)
    assert _how_it_ended(progress) == (SagaState.COMPENSATED, "confirm", TEMPLATE_FAILED)
    assert services.calls[0] == "flight POST /bookings"
    assert not any(call.startswith(("hotel", "car POST /rentals")) for call in services.calls)
    assert services.live == {}


async def test_the_batch_stops_after_an_answer_it_cannot_project(time_skipping_env):
    # The flight's projection reads a field its answer does not have: nothing after it may be made, and the step fails
    # as a template error once the workflow projects it; its undo fences the key, the hotel was never called.
    flight = FLIGHT.model_copy(update={"result": {"ref": "${response.nope}"}})
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(flight, HOTEL))
    async with worker:
        progress = await result_of(handle)
    assert _how_it_ended(progress) == (SagaState.COMPENSATED, "flight", TEMPLATE_FAILED)
    assert services.batches == [["flight", "hotel"]]
    # Newest undo first: the hotel's fence finds nothing, the flight's undoes the booking.
    assert services.calls == ["flight POST /bookings", "hotel POST /fences", "flight POST /fences"]
    assert services.live == {}


async def test_a_cancel_during_the_batch_undoes_what_its_calls_answered_as_answered(time_skipping_env):
    # The flight's undo needs its result and does nothing when the outcome is unknown: after a cancel that arrived
    # while the batch was making the car's call, the flight's answer is known and its booking is deleted.
    flight = Step(id="flight", call=_call("flight", "POST", "/bookings"), undo=_deleted("flight", "/bookings", "none"))
    services = Services(slow={"car POST /rentals"})
    worker, handle = await _run(time_skipping_env, services, _definition(flight, HOTEL, CAR))
    async with worker:
        for _ in range(100):
            if "car POST /rentals" in services.sent:
                break
            await asyncio.sleep(0.01)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        progress: SagaProgress = await handle.query(DeclaredSagaWorkflow.status)
    # The cancel arrived during the run's first workflow task: the server refuses that task's completion, and the task
    # that handles the cancel makes the batch again (same keys: the services answer what they did).
    assert services.batches and all(batch == ["flight", "hotel", "car"] for batch in services.batches)
    assert (progress.state, progress.reason, progress.completed_steps) == (
        SagaState.COMPENSATED,
        "cancelled on request",
        [],
    )
    assert "flight DELETE /bookings/" + quote(services.requests[0].key or "", safe="") in services.calls
    assert services.live == {}
