"""The step runner: what makes a saga's calls durable, idempotent and undoable, for any workflow.

A workflow declares a `Plan` — its steps in order, each step's `Undo`, its options table (workflows/policies.py) —
and runs each step through a `StepRunner`. For every step the runner guarantees:

- **One key per call per execution.** `key(operation)` is the workflow id + the operation + the first run id
  (workflows/idempotency.py): the same on every attempt, retry, worker crash and reset of this execution, different
  in a new execution of the same business id. Put it in the call's input; the activity sends it downstream.
- **The undo is registered before the step runs**, so a step whose request committed but whose reply was lost is
  undone too. With local first attempts, every step's undo is registered before the *first* step
  (`register_every_undo`): a lost workflow task may have made calls that a recorded cancel now stops before. The undo
  fences the step's key and the keys of later calls that change the same record (`Undo.later`): the service undoes
  exactly that request, or refuses it should it arrive after the undo (docs/downstream-contract.md). So an undo must
  tolerate "the step never happened" — it answers `undone=False`.
- **A local first attempt, then server-managed retries** (`call`): the first attempt runs inside the workflow task (no
  activity task to schedule and record); one that fails retryably or is slow goes to the server, after one backoff
  interval (or the 429's Retry-After), with the step's retry policy less the attempt made. A non-retryable failure is
  final however the attempt ran.
- **First attempts together** (`made_together`; OrderWorkflow's batch: `first_attempts`): a workflow that knows its
  next calls up front may hand their first attempts to one local activity (workflows/first_attempts.py) that answers
  a `FirstAttemptsDone`; each step's `call` then takes its call's outcome, found by `ref` — a result, a failure
  handled as its local attempt's, or nothing (never made: the call runs as usual).
- **Shielded against cancellation**: a cancel lets the attempt in flight finish (its request may still commit, and
  the undo must run after it to see it), then stops the step.
- **Progress**: `step_started` / `step_done` / `step_failed` and `compensation_*` events through the workflow's
  `record`, the Web UI's current details ("step 2/4: charge_payment") through `details`, activity summaries, the
  step-duration metric.
- **Compensation to the end** (`compensate` inside `to_the_end`): every undo runs, newest first, whatever cancels
  arrive meanwhile; one that keeps failing is recorded, and the saga waits for an operator (`wait_for_operator`
  returns once `operator_retry()` was called, e.g. by a `retry_compensation` update) before trying the failed ones
  again. Never swallowed.

The runner is generic over the names of steps (`S`) and compensations (`C`): OrderWorkflow uses its `Step` and
`Compensation` enums, a declared saga plain strings; inputs are whatever its activities take (models or dicts).
It makes no command of its own: the commands are exactly the workflow's calls, timers and upserts.
docs/sagas.md ("The step runner") shows a workflow written on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as AttemptTimedOut

with workflow.unsafe.imports_passed_through():
    from workflows import metrics
    from workflows.activity_types import FIRST_ATTEMPTS, ActivityType
    from workflows.errors import ORDER_FAILURES, FailureSummary, describe_failure
    from workflows.first_attempts import (
        FIRST_ATTEMPTS_FAILED,
        BatchedCall,
        CallFailure,
        CallOutcome,
        FirstAttempts,
        FirstAttemptsDone,
        FirstCall,
    )
    from workflows.idempotency import idempotency_key
    from workflows.models import CompensationStatus, ProgressKind
    from workflows.policies import LOCAL_ATTEMPT_TIMEOUT, OptionsTable
    from workflows.saga import R, Saga

T = TypeVar("T")
In = TypeVar("In")

# What a batch of first attempts may take beyond its calls' own deadlines (each a local attempt's, enforced by the
# activity): the activity's own start and the hand-over of its result. Past it the batch is given up as a whole.
FIRST_ATTEMPTS_MARGIN = timedelta(milliseconds=500)
BATCHED_CALL_TIMEOUT_MS = int(LOCAL_ATTEMPT_TIMEOUT / timedelta(milliseconds=1))
"""Each call's deadline in a batch of first attempts: a local attempt's."""
S = TypeVar("S", bound=str)
"""A step's name: a `StrEnum` member or a plain string."""
C = TypeVar("C", bound=str)
"""A compensation's name: a `StrEnum` member or a plain string."""


@dataclass(frozen=True)
class Fence:
    """The keys an undo fences: its step's (`step_key`), those of later calls that changed the same record
    (`later_keys`), and the undo's own call key (`key`)."""

    step_key: str
    later_keys: tuple[str, ...]
    key: str


@dataclass(frozen=True)
class Undo(Generic[C]):
    """What undoes a step: the compensation's name (as reported), its activity, the operation whose key it fences
    (the step's call), its summary in the Web UI, and the later operations that change the same record (their keys
    fenced too). The runner's `fence_input` turns the keys into the compensation activity's input."""

    action: C
    compensation: ActivityType[Any, Any]
    fences: str
    summary: str
    later: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan(Generic[S, C]):
    """A saga's declaration: its steps in the order they run, the undo of those that have one (a step without one
    changes nothing an earlier undo does not cover), its options table, and whether the undos may run all at once."""

    steps: Sequence[S]
    undo: Mapping[S, Undo[C]]
    options: OptionsTable
    parallel_compensation: bool = False


class StepProgress(Protocol[S]):
    """Where the workflow reports its steps (OrderWorkflow: its `OrderProgress`)."""

    current_step: S | None
    completed_steps: list[S]


class StepRunner(Generic[S, C, R]):
    """Runs the steps of one execution of a saga (see the module docstring for what it guarantees).

    `progress` and `records` are what the workflow reports (its status); `record(kind, *, step=, compensation=,
    detail=)` appends a progress event; `details(text)` sets the Web UI's current details; `fence_input(undo, fence)`
    makes a compensation's input. `local_first` and `execution` (the first run id, or None for executions keyed by
    workflow id + operation only) are set by the workflow once it asked its patches, before the first step."""

    def __init__(
        self,
        plan: Plan[S, C],
        *,
        progress: StepProgress[S],
        records: list[R],
        record: Callable[..., None],
        details: Callable[[str], None],
        fence_input: Callable[[Undo[C], Fence], Any],
        new_record: Callable[[Any], R] | None = None,
    ) -> None:
        self.plan = plan
        self.local_first = False
        self.execution: str | None = None
        self._progress = progress
        self._record = record
        self._details = details
        self._fence_input = fence_input
        self._operator_retry = False
        # The outcomes of first attempts made together (`first_attempts`), by call, until each step takes its own.
        self._first: dict[str, CallOutcome] = {}
        self._saga: Saga[R] = Saga(
            records, parallel=plan.parallel_compensation, on_change=self._compensation_changed, new_record=new_record
        )

    # ---- keys and undos ---------------------------------------------------------------------------------------------

    def key(self, operation: str | ActivityType[Any, Any]) -> str:
        """The idempotency key of `operation`'s call in this execution (see workflows/idempotency.py)."""
        name = operation if isinstance(operation, str) else operation.name
        execution = (self.execution,) if self.execution else ()
        return idempotency_key(workflow.info().workflow_id, name, *execution)

    def register_every_undo(self) -> None:
        """Register every step's undo, in step order, before the first step: what an execution that runs local first
        does (a lost workflow task may have made any of its calls)."""
        for step in self.plan.steps:
            self.register_undo(step)

    def register_undo(self, step: S) -> None:
        """Register `step`'s undo with the saga, if it has one."""
        undo = self.plan.undo.get(step)
        if undo is not None:
            self._saga.register(undo.action, self._fence(undo))

    def register_compensation(self, action: C, run: Callable[[], Awaitable[Any]]) -> None:
        """Register a compensation the workflow composes itself (a declared saga's undo: several calls, or a lookup
        first); `run` returns a `CompensationOutcome` and fails with an `ActivityError`, like a registered undo."""
        self._saga.register(action, run)

    def _fence(self, undo: Undo[C]) -> Callable[[], Awaitable[Any]]:
        """The compensation of a step: fence the key of every call that acted on the step's record — the step's own
        (the service undoes exactly that request, or refuses it should it arrive later) and those that changed the
        record after it (a confirmation: refused from then on, so that its stored success is never replayed to a run
        reset to before the compensation)."""
        fence = Fence(
            step_key=self.key(undo.fences),
            later_keys=tuple(self.key(later) for later in undo.later),
            key=self.key(undo.compensation),
        )
        arg = self._fence_input(undo, fence)
        return lambda: self.call(undo.compensation, arg, undo.summary)

    # ---- forward steps ----------------------------------------------------------------------------------------------

    async def step(
        self,
        step: S,
        do: Callable[[], Awaitable[T]],
        *,
        on_failure: Callable[[FailureSummary | None], None] | None = None,
    ) -> T:
        """Run `do` as step `step`: its undo registered first (unless all were, local first), its progress reported.
        `on_failure` hears how it failed (None: cancelled) before the error is raised on."""
        steps = list(self.plan.steps)
        self._progress.current_step = step
        self._details(f"step {steps.index(step) + 1}/{len(steps)}: {step}")
        if not self.local_first:
            self.register_undo(step)
        workflow.logger.info("step %s started", str(step), extra={"step": str(step)})
        self._record(ProgressKind.STEP_STARTED, step=step)
        started = workflow.now()
        try:
            result = await do()
        except GeneratorExit:
            raise  # a workflow evicted while it waits is being garbage-collected: nothing to record, no loop to do it
        except BaseException as err:
            metrics.step_took(step, workflow.now() - started, "failed")
            failure = describe_failure(err) if isinstance(err, ORDER_FAILURES) else None
            self._record(ProgressKind.STEP_FAILED, step=step, detail=failure.reason if failure else "cancelled")
            if on_failure is not None:
                on_failure(failure)
            raise
        metrics.step_took(step, workflow.now() - started, "ok")
        self._progress.completed_steps.append(step)
        self._record(ProgressKind.STEP_DONE, step=step)
        return result

    async def first_attempts(self, calls: Sequence[FirstCall]) -> None:
        """Make the first attempts of `calls` — the next steps' calls, in order — in one local activity
        (workflows/first_attempts.py): OrderWorkflow's batch, `made_together` with FIRST_ATTEMPTS."""
        batch = FirstAttempts(calls=list(calls), call_timeout_ms=BATCHED_CALL_TIMEOUT_MS)
        await self.made_together(FIRST_ATTEMPTS, batch, calls, rounds=len(batch.rounds()))

    async def made_together(
        self,
        activity: ActivityType[In, FirstAttemptsDone],
        batch: In,
        calls: Sequence[BatchedCall],
        *,
        rounds: int | None = None,
    ) -> None:
        """Run `activity`, a batch of first attempts taking `batch`, as one local activity; `calls` name what it makes
        (in order: refs, summaries) and `rounds` says how many deadlines it may take one after the other (default:
        one per call). Each step's `call` then takes its call's outcome (by `ref`) instead of making it. For an
        execution that runs local first, with every undo registered. Shielded like a local attempt: a cancel waits
        for the batch to end, then stops the saga before its next step."""
        assert self.local_first, "first attempts together are local first attempts"
        rounds = len(calls) if rounds is None else rounds
        local = dict(self.plan.options.local_attempt)
        local["start_to_close_timeout"] = LOCAL_ATTEMPT_TIMEOUT * rounds + FIRST_ATTEMPTS_MARGIN
        # Each call by its own summary, led by what names it (an order's activity, a saga's step) unless it is already.
        named = (call.summary if call.summary.startswith(call.ref) else f"{call.ref}: {call.summary}" for call in calls)
        summary = "first attempts: " + "; ".join(named)
        self._details(f"first attempts of {rounds} round(s) of calls")
        attempt = workflow.start_local_activity(
            activity.name, batch, result_type=activity.result, summary=summary[:400], **local
        )
        try:
            done = await despite_cancellation(attempt)
        except asyncio.CancelledError:
            # The batch is over (a cancel waits for it): what its calls answered is known, and `answered` tells it to
            # a workflow whose undos depend on it.
            if not attempt.cancelled() and attempt.exception() is None:
                self._first = {outcome.ref: outcome for outcome in attempt.result().outcomes}
            raise
        except (ActivityError, ApplicationError, AttemptTimedOut) as err:
            # The batch as a whole failed (its deadline passed): what its calls did is unknown. The first call goes on
            # as after a failed local attempt (a backoff, then the server, with its key); the others as usual.
            first = calls[0]
            failure = CallFailure(type=FIRST_ATTEMPTS_FAILED, message=f"{first.summary}: the batch failed: {err}")
            self._first = {first.ref: CallOutcome(ref=first.ref, activity=first.activity, failure=failure)}
            return
        self._first = {outcome.ref: outcome for outcome in done.outcomes}

    def answered(self, ref: str, result_type: type[T]) -> T | None:
        """What the call `ref`, made together with others, answered — None if it failed or was not made — for a
        workflow stopped before its step took it (a cancel during the batch): its undo can then run as for a step
        that answered. Taken once, like `call` takes it."""
        made = self._first.pop(ref, None)
        return _decoded(result_type, made.result) if made is not None and made.failure is None else None

    async def call(
        self,
        activity: ActivityType[Any, T],
        arg: Any,
        summary: str,
        *,
        local: bool = True,
        ref: str | None = None,
    ) -> T:
        """Run `activity` with `arg`: a local attempt first where the execution runs local first and the options table
        says so (`local=False`: straight to the server), then server-managed attempts with the activity's options. A
        call whose first attempt was made together with others (`first_attempts`, found by `ref`, default the
        activity's name) takes that attempt's outcome."""
        name, result_type = activity.name, activity.result
        table = self.plan.options
        options = table.options(name)
        made = self._first.pop(ref or name, None)
        failure: BaseException | None = None
        if made is not None:
            if made.failure is None:
                return _decoded(result_type, made.result)
            failure = made.failure.error()
            if made.failure.non_retryable:
                raise failure  # a declined card is final however the attempt ran
        elif local and self.local_first and table.runs_local_first(name):
            attempt = workflow.start_local_activity(
                name, arg, result_type=result_type, summary=summary, **table.local_attempt
            )
            try:
                # Never cancelled (cancelling a local attempt would abort its request mid-flight): a cancelled saga
                # waits for it, at most the local attempt's timeout, and compensates after it.
                return await despite_cancellation(attempt)
            except (ActivityError, ApplicationError, AttemptTimedOut) as err:
                # A local attempt's failure comes as the error itself (an ActivityError only wraps server attempts).
                failure = err.cause if isinstance(err, ActivityError) else err
                if isinstance(failure, ApplicationError) and failure.non_retryable:
                    raise  # a declined card is final however the attempt ran
        if failure is not None:  # the first attempt (alone or in a batch) failed retryably: the server's turn
            backoff = backoff_after(failure, options)
            options = table.after_local_attempt(name)
            await workflow.sleep(backoff, summary=f"retry after local attempt failed: {summary}")
        handle = workflow.start_activity(name, arg, result_type=result_type, summary=summary, **options)
        # A cancel stops further retries; an attempt already in flight still finishes.
        return await despite_cancellation(handle, on_cancel=handle.cancel)

    # ---- compensation -----------------------------------------------------------------------------------------------

    async def compensate(self, on_stuck: Callable[[], Awaitable[None]]) -> None:
        """Run every registered undo, newest first (all at once if the plan says so); when some keep failing, await
        `on_stuck` (typically: report, then `wait_for_operator`) and run the failed ones again. Returns once all
        succeeded. Wrap it in `to_the_end` so that cancels cannot interrupt it."""
        # The forward steps are over: an outcome of first attempts made together that no step took must never stand
        # in for an undo's call.
        self._first.clear()
        await self._saga.compensate(on_stuck=on_stuck)

    def operator_retry(self) -> None:
        """An operator asked for another try of the failed undos (call it from the workflow's retry update)."""
        self._operator_retry = True

    async def wait_for_operator(self) -> None:
        """Wait until `operator_retry()` is called (no timer: an operator's fix takes what it takes)."""
        await workflow.wait_condition(lambda: self._operator_retry)
        self._operator_retry = False

    def _compensation_changed(self, entry: R) -> None:
        kind = {
            CompensationStatus.RUNNING: ProgressKind.COMPENSATION_STARTED,
            CompensationStatus.DONE: ProgressKind.COMPENSATION_DONE,
            CompensationStatus.FAILED: ProgressKind.COMPENSATION_FAILED,
        }.get(entry.status)
        if kind is not None:
            self._record(kind, compensation=entry.action, detail=entry.detail)


async def despite_cancellation(attempt: Awaitable[T], *, on_cancel: Callable[[], object] | None = None) -> T:
    """`attempt`'s outcome. Shielded: a workflow cancellation must not be absorbed by the attempt's own cancel handling
    (which, when the call then succeeds, would swallow it and let the saga carry on). A cancellation meanwhile calls
    `on_cancel`, waits until the attempt in flight is over — its request may still commit, and the compensations must
    run after it to see it — and is then raised, whatever the attempt's outcome."""
    future = asyncio.ensure_future(attempt)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        if on_cancel is not None:
            on_cancel()
        while not future.done():
            with contextlib.suppress(BaseException):
                await asyncio.shield(future)
        if not future.cancelled():
            future.exception()  # retrieved: its outcome is superseded by the cancel
        raise


async def to_the_end(work: Awaitable[T], *, on_cancel: Callable[[], object] = lambda: None) -> T:
    """`work`'s outcome, however many cancels arrive meanwhile (each calls `on_cancel`, e.g. to log it). For
    compensation: the execution must never close while an undo is pending — closing would abandon the charge it has
    yet to refund."""
    future = asyncio.ensure_future(work)
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            on_cancel()
            continue
    return future.result()


def _decoded(result_type: type[T], result: Any) -> T:
    """A batched call's result (JSON) as its activity's result type, as the data converter would decode it."""
    validate = getattr(result_type, "model_validate", None)
    return validate(result) if validate is not None else result  # type: ignore[no-any-return]


def backoff_after(cause: BaseException | None, options: Mapping[str, Any]) -> timedelta:
    """The wait before the server's first attempt after a failed local one: what a 429's Retry-After asked for, else
    the step's first backoff interval. Also after a timeout: the wait ends the workflow task before the server attempt
    is made, so a cancel that arrived meanwhile stops the step first — the abandoned local request may still be on
    its way, and a second request with its key could otherwise commit what the compensation is about to undo."""
    if isinstance(cause, ApplicationError) and cause.next_retry_delay:
        return cause.next_retry_delay
    interval: timedelta = options["retry_policy"].initial_interval
    return interval


def timestamp(moment: datetime) -> str:
    """Workflow time as progress reports it: ISO-8601 UTC to the millisecond."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
