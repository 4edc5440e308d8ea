"""`DeclaredSagaWorkflow`: runs any declared saga (workflows/saga_definition.py) on the step runner (steps.py).

The run carries its definition in its input, so a changed file never reaches a run in flight and replay needs nothing
but the history. Every template is rendered here, deterministically (workflows/saga_calls.py); the one generic
activity (activities/operation_calls.py) only sends the rendered request and classifies the answer by the step's
declared outcomes. The first attempts of the first steps are made together by one local activity, which renders each
call with the same functions over the same scope (`_first_attempts`, FIRST_ATTEMPTS_TOGETHER_PATCH); each step then
takes its call's outcome, renders its request and projects its result here as before.

What it guarantees, as OrderWorkflow does:
- one key per step per execution (`steps.<id>.key`: workflow id + step id + first run id), and one per undo call;
- every undo registered before the first step: first attempts run locally, and a workflow task lost after its calls
  went through is run again from before them — a cancel recorded meanwhile must still undo what they did;
- an undo runs as its step's outcome requires (saga_definition's docstring): the step answered → `before`, then
  `call`; unknown → by `when_unknown` (fence, lookup then undo, or nothing, as declared);
- after a successful pivot nothing is undone: the later steps are retried to completion, a cancel no longer stops
  them, and a step refused for good there waits for an operator (`retry_compensation`) instead of unwinding;
- compensation runs to the end whatever cancels arrive; an undo that keeps failing leaves the run in
  `needs_attention` until an operator asks for another try.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from cadenza.errors import CadenzaError
    from cadenza.failure_types import SAGA_COMPENSATED
    from cadenza.search_attributes import SAGA_STATUS
    from workflows.activity_types import (
        CALL_OPERATION,
        COMPLETE_OPERATION,
        SAGA_FIRST_ATTEMPTS,
        UNDO_OPERATION,
        ActivityType,
    )
    from workflows.at_most_once import call_at_most_once
    from workflows.errors import ORDER_FAILURES, describe_failure
    from workflows.first_attempts import BatchedCall
    from workflows.models import CompensationOutcome, OperatorRetry, ProgressKind
    from workflows.policies import SAGA_OPTIONS
    from workflows.saga_calls import found, projected, rendered, scope_of, with_result
    from workflows.saga_definition import Call, Step
    from workflows.saga_run_models import (
        OperationAnswer,
        SagaCompensation,
        SagaEvent,
        SagaFirstAttempts,
        SagaProgress,
        SagaRun,
        SagaState,
    )
    from workflows.saga_templates import TemplateError
    from workflows.steps import BATCHED_CALL_TIMEOUT_MS, Plan, StepRunner, timestamp, to_the_end

RETRY_UPDATE = "retry_compensation"
"""The operator's go-ahead, signed like an order's (workers/decision_check.py checks every update of this name)."""

# The patch id of compensated runs ending Failed, as compensated orders do (workflows/order.py,
# COMPENSATED_FAILS_PATCH): a run that compensated raises a non-retryable `SagaCompensated` failure carrying its
# `SagaProgress`, so the Web UI shows it failed with its reason; readers map it back (clients/sagas/runs.py). Runs
# recorded before it ended Completed. Asked first, before any local attempt (see DECIDED_AT_START_PATCH there).
COMPENSATED_FAILS_PATCH = "compensated-saga-fails"

# The patch id of first attempts together (workflows/first_attempts.py), as for orders (workflows/order.py,
# FIRST_ATTEMPTS_TOGETHER_PATCH): the first attempts of a run's first steps — from the first, up to and including the
# pivot, before any replay-unsafe one — are made by one local activity (SAGA_FIRST_ATTEMPTS), and each step takes its
# call's outcome from it. Asked first and alone: it implies COMPENSATED_FAILS_PATCH, so a new run records one marker.
FIRST_ATTEMPTS_TOGETHER_PATCH = "saga-first-attempts-together"

# The patch id of replay-unsafe steps sent at most once (workflows/at_most_once.py): each attempt an activity with a
# budget of one, an attempt the server times out (its worker killed mid-request) ending the step with OutcomeUnknown
# instead of being retried by the server. Runs recorded before it let the server retry those activities. Asked only by
# runs whose definition has such a step (no marker in any other run's history), first thing, with the other patch.
AT_MOST_ONCE_PATCH = "replay-unsafe-at-most-once"

TEMPLATE_FAILED = "TemplateFailed"
"""A request that could not be rendered from what the run holds: final for the step (the saga compensates)."""


class RetryRefused(CadenzaError):
    """The `retry_compensation` validator's refusal: the run is not in needs_attention (no trace in history)."""


@workflow.defn(versioning_behavior=VersioningBehavior.PINNED)
class DeclaredSagaWorkflow:
    @workflow.init
    def __init__(self, run: SagaRun) -> None:
        self._definition = run.definition
        self._input = run.input
        self._progress = SagaProgress(name=run.definition.name, content_hash=run.definition.content_hash)
        self._results: dict[str, Any] = {}
        plan: Plan[str, str] = Plan(
            steps=tuple(step.id for step in run.definition.steps), undo={}, options=SAGA_OPTIONS
        )
        self._steps: StepRunner[str, str, SagaCompensation] = StepRunner(
            plan,
            progress=self._progress,
            records=self._progress.compensations,
            record=self._record,
            details=self._set_details,
            fence_input=lambda undo, fence: None,  # the plan has no undos of its kind: each is composed here
            new_record=lambda action: SagaCompensation(action=str(action)),
        )
        self._at_most_once = False
        # The SDK's __contains__ takes a key; its Collection[SearchAttributePair] base makes mypy expect a pair.
        self._indexed = SAGA_STATUS in workflow.info().typed_search_attributes  # type: ignore[comparison-overlap]

    @workflow.run
    async def run(self, run: SagaRun) -> SagaProgress:
        together = workflow.patched(FIRST_ATTEMPTS_TOGETHER_PATCH)
        compensated_fails = together or workflow.patched(COMPENSATED_FAILS_PATCH)
        # Right after, with nothing awaited between (no task can end there), and only where it matters.
        self._at_most_once = any(step.replay_unsafe for step in run.definition.steps) and workflow.patched(
            AT_MOST_ONCE_PATCH
        )
        self._steps.local_first = True
        self._steps.execution = workflow.info().first_execution_run_id
        for step in self._definition.steps:
            if step.undo is not None:
                self._steps.register_compensation(step.id, self._undo_of(step))
        steps = list(self._definition.steps)
        pivot = next((index for index, step in enumerate(steps) if step.pivot), len(steps))
        try:
            if together:
                await self._first_attempts(steps[: pivot + 1])
            for step in steps[: pivot + 1]:
                await self._steps.step(step.id, self._doing(step, CALL_OPERATION))
        except ORDER_FAILURES as err:
            self._failed(err)
            await to_the_end(self._compensate())
        except asyncio.CancelledError:
            self._answered_before_cancel(steps[: pivot + 1])
            self._progress.failed_step = self._progress.current_step
            self._progress.reason, self._progress.error_type = "cancelled on request", "Cancelled"
            await to_the_end(self._compensate())
            raise
        else:
            if pivot < len(steps):
                self._progress.pivoted = True
                await to_the_end(self._complete(steps[pivot + 1 :]), on_cancel=self._cancel_after_pivot)
            self._progress.current_step = None
            self._set_state(SagaState.COMPLETED, "completed")
        if compensated_fails and self._progress.state == SagaState.COMPENSATED:
            # Failed, not Completed: what the run was for did not happen. The progress travels in the details.
            at = f" at {self._progress.failed_step}" if self._progress.failed_step else ""
            message = f"{self._definition.name} compensated{at}: {self._progress.reason or 'no reason recorded'}"
            raise ApplicationError(message, self._progress, type=SAGA_COMPENSATED, non_retryable=True)
        return self._progress

    # ---- queries and updates ------------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> SagaProgress:
        """Where the run is: its state, current step, completed steps with their results, compensations."""
        return self._progress

    @workflow.update(name=RETRY_UPDATE)
    async def retry_compensation(self, retry: OperatorRetry) -> SagaProgress:
        """An operator's go-ahead: retry the failed undos (or the step that failed after the pivot)."""
        workflow.logger.info("operator %s asked for a retry", retry.operator)
        self._steps.operator_retry()
        await workflow.wait_condition(lambda: self._progress.state != SagaState.NEEDS_ATTENTION)
        return self._progress

    @retry_compensation.validator
    def _only_when_needing_attention(self, retry: OperatorRetry) -> None:
        if self._progress.state != SagaState.NEEDS_ATTENTION:
            raise RetryRefused(f"is not in needs_attention: {self._progress.state.value}")

    # ---- forward steps ------------------------------------------------------------------------------------------

    def _doing(self, step: Step, activity: ActivityType[Any, OperationAnswer]) -> Callable[[], Awaitable[Any]]:
        return lambda: self._forward(step, activity)

    async def _forward(self, step: Step, activity: ActivityType[Any, OperationAnswer]) -> Any:
        scope = self._scope()
        call = self._render(step.call, scope, self._steps.key(step.id))
        if step.replay_unsafe:
            # The API's profile says a retry may act twice: no local first attempt (a lost workflow task would re-send
            # it), the activity makes an ambiguous failure final, and each attempt is an activity of its own that the
            # server never retries (a worker killed mid-request). Only definitions that declare it come here.
            call = call.model_copy(update={"replay_unsafe": True})
        summary = f"{step.id}: {call.method} {call.path}"
        if step.replay_unsafe and self._at_most_once:
            answer = await call_at_most_once(SAGA_OPTIONS, activity, call, summary)
        else:
            answer = await self._steps.call(
                activity,
                call,
                summary,
                local=activity is CALL_OPERATION and not step.replay_unsafe,
                ref=step.id,  # its outcome, if its first attempt was made together with others (`_first_attempts`)
            )
        try:
            result = projected(step.result, scope, answer.body)
        except TemplateError as err:
            raise ApplicationError(f"{step.id}: {err}", type=TEMPLATE_FAILED, non_retryable=True) from None
        self._results[step.id] = result
        self._progress.results[step.id] = result
        return result

    async def _first_attempts(self, steps: Sequence[Step]) -> None:
        """The first attempts of `steps`' first calls together, up to the first replay-unsafe step (never a local
        attempt: a lost workflow task would send it again). Rendered and projected by the activity as `_forward`
        does; a batch of one call would only replace that call's own local attempt, so there is none."""
        batch = list(itertools.takewhile(lambda step: not step.replay_unsafe, steps))
        if len(batch) < 2:
            return
        calls = [
            BatchedCall(
                ref=step.id, activity=CALL_OPERATION.name, summary=f"{step.id}: {step.call.method} {step.call.path}"
            )
            for step in batch
        ]
        first = SagaFirstAttempts(
            steps=tuple(batch), input=self._input, keys=self._keys(), call_timeout_ms=BATCHED_CALL_TIMEOUT_MS
        )
        await self._steps.made_together(SAGA_FIRST_ATTEMPTS, first, calls)

    def _answered_before_cancel(self, steps: Sequence[Step]) -> None:
        """The results of the steps whose calls the batch made before a cancel stopped the run ahead of them: known,
        so that their undos run as for steps that answered (`before`, then `call`), not as for an unknown outcome
        (a step declaring `when_unknown: none` would otherwise stay done)."""
        for step in steps:
            answer = self._steps.answered(step.id, OperationAnswer)
            if answer is None:
                continue  # not made together, or already taken by its step
            try:
                result = projected(step.result, self._scope(), answer.body)
            except TemplateError:
                return  # the batch stopped there: nothing after it was made
            self._results[step.id] = result  # not in the progress's results: the step itself never ran

    async def _complete(self, steps: Sequence[Step]) -> None:
        """The steps after a successful pivot: each retried until it succeeds; one refused for good waits for an
        operator, then runs again (with the same key: a fixed service answers it as if it were the first time)."""
        for step in steps:
            while True:
                try:
                    await self._steps.step(step.id, self._doing(step, COMPLETE_OPERATION))
                    break
                except ORDER_FAILURES as err:
                    self._failed(err)
                    self._set_state(SagaState.NEEDS_ATTENTION, f"needs attention: {step.id} failed after the pivot")
                    await self._steps.wait_for_operator()
                    self._set_state(SagaState.RUNNING, f"retrying {step.id}: an operator asked")

    def _cancel_after_pivot(self) -> None:
        workflow.logger.warning(
            "cancel of saga %s after its pivot: it goes forward to completion", workflow.info().workflow_id
        )

    # ---- undo ---------------------------------------------------------------------------------------------------

    def _undo_of(self, step: Step) -> Callable[[], Awaitable[CompensationOutcome]]:
        """The compensation of `step`, composed as saga_definition's docstring says, by what is known of the step
        when it runs."""
        undo = step.undo
        assert undo is not None

        async def compensate() -> CompensationOutcome:
            scope = self._scope()
            if step.id in self._results:
                return await self._undo_calls(step, (*undo.before, undo.call), scope)
            if undo.when_unknown == "fence":
                fence_only = undo.needs_result and undo.fence is not None
                calls = (undo.fence,) if fence_only and undo.fence else (*undo.before, undo.call)
                return await self._undo_calls(step, calls, scope)
            if undo.when_unknown == "lookup" and undo.lookup is not None:
                lookup = self._render(undo.lookup.call, scope, None)
                answer = await self._steps.call(UNDO_OPERATION, lookup, f"look up {step.id}", local=False)
                item = found(undo.lookup, answer.body, scope)
                if item is None:
                    return CompensationOutcome(undone=False, detail=f"{step.id}: the lookup found nothing to undo")
                return await self._undo_calls(step, (*undo.before, undo.call), with_result(scope, step.id, item))
            return CompensationOutcome(
                undone=False, detail=f"{step.id}: outcome unknown, and its undo declares nothing to do then"
            )

        return compensate

    async def _undo_calls(self, step: Step, calls: Sequence[Call], scope: dict[str, Any]) -> CompensationOutcome:
        answer: OperationAnswer | None = None
        for index, call in enumerate(calls):
            request = self._render(call, scope, self._steps.key(f"{step.id}.undo.{index}"))
            answer = await self._steps.call(
                UNDO_OPERATION, request, f"undo {step.id}: {request.method} {request.path}", local=False
            )
        assert answer is not None
        body = answer.body if isinstance(answer.body, dict) else {}
        undone = body.get("undone")
        detail = body.get("detail")
        return CompensationOutcome(
            undone=undone if isinstance(undone, bool) else True,
            detail=str(detail) if detail else f"{calls[-1].operation_id} answered {answer.status}",
        )

    async def _compensate(self) -> None:
        self._set_state(SagaState.COMPENSATING, f"compensating: {self._progress.reason}")
        await self._steps.compensate(on_stuck=self._wait_for_operator)
        self._progress.current_step = None
        self._set_state(SagaState.COMPENSATED, f"compensated: {self._progress.reason}")

    async def _wait_for_operator(self) -> None:
        failed = [record.action for record in self._progress.compensations if record.status == "failed"]
        self._set_state(SagaState.NEEDS_ATTENTION, f"needs attention: undo failed ({', '.join(failed)})")
        await self._steps.wait_for_operator()
        self._set_state(SagaState.COMPENSATING, "compensating: an operator asked for a retry")

    # ---- reporting ----------------------------------------------------------------------------------------------

    def _scope(self) -> dict[str, Any]:
        return scope_of(self._input, self._keys(), self._results)

    def _keys(self) -> dict[str, str]:
        """Every step's key (`steps.<id>.key`), known before any step runs."""
        return {step.id: self._steps.key(step.id) for step in self._definition.steps}

    def _render(self, call: Call, scope: dict[str, Any], key: str | None) -> Any:
        try:
            return rendered(call, scope, key)
        except TemplateError as err:
            raise ApplicationError(f"{call.operation_id}: {err}", type=TEMPLATE_FAILED, non_retryable=True) from None

    def _failed(self, err: BaseException) -> None:
        failure = describe_failure(err)
        self._progress.failed_step = self._progress.current_step
        self._progress.reason, self._progress.error_type = failure.reason, failure.error_type

    def _record(self, kind: ProgressKind, *, detail: str | None = None, **about: Any) -> None:
        self._progress.events.append(
            SagaEvent(
                seq=len(self._progress.events) + 1,
                kind=kind,
                state=self._progress.state,
                step=str(about["step"]) if about.get("step") is not None else None,
                compensation=str(about["compensation"]) if about.get("compensation") is not None else None,
                detail=detail,
                at=timestamp(workflow.now()),
            )
        )

    def _set_state(self, state: SagaState, details: str) -> None:
        self._progress.state = state
        self._record(ProgressKind.STATE, detail=details)
        if self._indexed:
            workflow.upsert_search_attributes([SAGA_STATUS.value_set(state.value)])
        self._set_details(details)

    def _set_details(self, details: str) -> None:
        workflow.set_current_details(f"saga {self._definition.name} — {details}")
