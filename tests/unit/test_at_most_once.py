"""A replay-unsafe step on the time-skipping test server (workflows/at_most_once.py): clean failures (a 503 before
processing, a 429 with Retry-After, a refused connection) are retried by the workflow, each attempt an activity of its
own with a budget of one, after a timer with the step's backoff and within its attempt budget; an attempt the server
times out (its worker gone) is never sent again: OutcomeUnknown, then the undo by lookup."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError

from cadenza.failure_types import OUTCOME_UNKNOWN, RATE_LIMITED, SERVICE_UNREACHABLE
from tests.unit.production_worker import result_of
from tests.unit.test_declared_saga import FLIGHT, HOTEL_BY_LOOKUP, Services, _call, _definition, _run, _until
from workflows.activity_types import SAGA_CALLS
from workflows.at_most_once import backoff, not_applied
from workflows.declared_saga import AT_MOST_ONCE_PATCH, DeclaredSagaWorkflow
from workflows.models import CompensationStatus, OperatorRetry
from workflows.policies import STEP_ATTEMPTS, STEP_RETRY
from workflows.saga_definition import Step
from workflows.saga_run_models import OperationAnswer, OperationCall, SagaProgress, SagaState

UNSAFE_HOTEL = HOTEL_BY_LOOKUP.model_copy(update={"replay_unsafe": True})
STAYS = "hotel POST /stays"


def _unavailable() -> ApplicationError:
    """A 503 before processing, as the activity raises it for a replay-unsafe call: marked as applying nothing."""
    return not_applied(
        ApplicationError("hotel answered 503 service_unavailable: nothing was applied", type="ServiceUnavailable")
    )


class FlakyServices(Services):
    """`Services` whose hotel first fails as `failures` say (an error raised, or "hang": no answer ever, as from a
    worker killed mid-request), each failure before anything committed."""

    def __init__(self, failures: list[ApplicationError | str]) -> None:
        super().__init__()
        self.failures = list(failures)
        self.sent: list[OperationCall] = []

    def activities(self) -> list[Any]:
        def make(name: str) -> Any:
            @activity.defn(name=name)
            async def call(request: OperationCall) -> OperationAnswer:
                return await self.flaky(request)

            return call

        # The real batch of first attempts over the same flaky services (`send`, below).
        batch = super().activities()[-1]
        return [*(make(activity_type.name) for activity_type in SAGA_CALLS), batch]

    async def send(self, request: OperationCall) -> OperationAnswer:
        return await self.flaky(request)

    async def flaky(self, request: OperationCall) -> OperationAnswer:
        where = f"{request.service} {request.method} {request.path}"
        if where == STAYS:
            self.sent.append(request)
            if self.failures:
                failure = self.failures.pop(0)
                self.calls.append(where)
                if failure == "hang":
                    self.live[str(request.key)] = where  # committed; the answer never comes
                    await asyncio.Event().wait()
                assert isinstance(failure, ApplicationError)
                raise failure
        return self.answer(request)


async def _events(handle: WorkflowHandle[Any, Any]) -> list[Any]:
    return list((await handle.fetch_history()).events)


async def _book(env: Any, failures: list[ApplicationError | str]) -> tuple[FlakyServices, SagaProgress, list[Any]]:
    """A flight, then the replay-unsafe hotel failing first as `failures` say: the services, the run's progress and
    its history."""
    services = FlakyServices(failures)
    worker, handle = await _run(env, services, _definition(FLIGHT, UNSAFE_HOTEL))
    async with worker:
        progress: SagaProgress = await result_of(handle)
    return services, progress, await _events(handle)


def _unknown(progress: SagaProgress) -> bool:
    """Whether the hotel ended with its outcome unknown and the run compensated."""
    return (progress.state, progress.failed_step, progress.error_type) == (
        SagaState.COMPENSATED,
        "hotel",
        OUTCOME_UNKNOWN,
    )


def _one_attempt_each(events: list[Any]) -> list[int]:
    """The attempt budget of every activity scheduled."""
    return [
        event.activity_task_scheduled_event_attributes.retry_policy.maximum_attempts
        for event in events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def _timers(events: list[Any]) -> list[timedelta]:
    return [
        event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for event in events
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


async def test_clean_failures_are_retried_by_the_workflow_with_the_steps_backoff_then_it_completes(time_skipping_env):
    rate_limited = not_applied(
        ApplicationError("hotel answered 429", type=RATE_LIMITED, next_retry_delay=timedelta(seconds=7))
    )
    refused = not_applied(ApplicationError("hotel: ConnectError: connection refused", type=SERVICE_UNREACHABLE))
    services, progress, events = await _book(time_skipping_env, [_unavailable(), rate_limited, refused])
    assert progress.state == SagaState.COMPLETED, progress
    assert len(services.sent) == 4 and len({request.key for request in services.sent}) == 1  # one key, every send
    assert all(request.replay_unsafe for request in services.sent)
    assert AT_MOST_ONCE_PATCH in str(events)  # the patch's marker
    # The flight ran local first (a marker, no activity); each hotel attempt an activity the server never retries.
    assert _one_attempt_each(events) == [1, 1, 1, 1]
    # The step's backoff (0.5 s, then 2 s), the 429's Retry-After in between.
    assert _timers(events) == [timedelta(milliseconds=500), timedelta(seconds=7), timedelta(seconds=2)]


async def test_a_step_that_keeps_failing_cleanly_gives_up_after_its_attempt_budget(time_skipping_env):
    services, progress, events = await _book(time_skipping_env, [_unavailable() for _ in range(STEP_ATTEMPTS + 5)])
    assert (progress.state, progress.failed_step, progress.error_type) == (
        SagaState.COMPENSATED,
        "hotel",
        "ServiceUnavailable",
    )
    assert len(services.sent) == STEP_ATTEMPTS
    assert services.live == {}  # the flight undone, the hotel never booked
    waits = _timers(events)
    assert waits == [backoff(STEP_RETRY, attempt, _unavailable()) for attempt in range(1, STEP_ATTEMPTS)]
    assert max(waits) == STEP_RETRY.maximum_interval


async def test_an_attempt_the_server_times_out_is_never_sent_again_and_is_undone_by_lookup(time_skipping_env):
    services, progress, events = await _book(time_skipping_env, ["hang"])
    assert _unknown(progress), progress
    assert len(services.sent) == 1  # never sent again
    assert {record.action: record.status for record in progress.compensations} == {
        "hotel": CompensationStatus.DONE,
        "flight": CompensationStatus.DONE,
    }
    assert services.live == {}  # what the lost attempt committed was found by the lookup and deleted
    kinds = [event.event_type for event in events]
    assert kinds.count(EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT) == 1


async def test_a_retryable_failure_the_activity_did_not_mark_clean_is_never_sent_again(time_skipping_env):
    # What the SDK reports for an attempt its worker gave up on while shutting down (or an activity paused or reset):
    # retryable, and nothing says whether the request had gone out.
    shutdown = ApplicationError("Worker is shutting down and this activity did not complete in time", type="Shutdown")
    services, progress, events = await _book(time_skipping_env, [shutdown])
    assert _unknown(progress), progress
    assert len(services.sent) == 1
    assert _timers(events) == []


async def test_after_the_pivot_an_unknown_outcome_waits_for_an_operator_whose_retry_sends_it_again(
    time_skipping_env,
):
    pay = Step(id="pay", call=_call("payment", "POST", "/charges"), pivot=True)
    hotel = Step(id="hotel", call=_call("hotel", "POST", "/stays"), replay_unsafe=True)
    services = FlakyServices(["hang"])
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, pay, hotel))
    async with worker:
        stuck = await _until(handle, SagaState.NEEDS_ATTENTION)
        assert (stuck.pivoted, stuck.failed_step, stuck.error_type) == (True, "hotel", OUTCOME_UNKNOWN)
        assert len(services.sent) == 1  # not sent again until someone has looked
        await handle.execute_update(DeclaredSagaWorkflow.retry_compensation, OperatorRetry(operator="ops"))
        progress = await result_of(handle)
    assert progress.state == SagaState.COMPLETED
    assert len(services.sent) == 2 and progress.compensations == []


async def test_a_definition_without_replay_unsafe_steps_asks_no_patch(time_skipping_env):
    services = Services()
    worker, handle = await _run(time_skipping_env, services, _definition(FLIGHT, HOTEL_BY_LOOKUP))
    async with worker:
        progress = await result_of(handle)
    assert progress.state == SagaState.COMPLETED
    history = str(await handle.fetch_history())
    assert AT_MOST_ONCE_PATCH not in history
