"""A saga: the compensations of a workflow's steps, run in reverse when the workflow cannot complete.

Used through the step runner (workflows/steps.py), which registers each step's undo and reports every change; on its
own it knows nothing of activities: a compensation is any coroutine returning a `CompensationOutcome`.

Compensations are registered *before* their step runs, on purpose. A step whose request committed but whose reply
was lost (timeout, crashed worker, cancellation mid-flight) looks failed to the workflow; had we registered only on
success, it would never be undone. The price is that every compensation must tolerate "the step never happened" —
ours look up what to undo by order id and report `undone=False` when there is nothing.

A compensation error is never swallowed (unlike Java's `Saga` with `continueWithError`): every compensation is still
attempted, the failure is recorded, and the order waits for an operator (`on_stuck`) before trying the failed ones
again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, cast

from temporalio.exceptions import ActivityError, ApplicationError

from workflows.errors import describe_failure
from workflows.models import CompensationOutcome, CompensationRecord, CompensationStatus

CompensationFn = Callable[[], Awaitable[CompensationOutcome]]


class CompensationEntry(Protocol):
    """What a workflow reports of one compensation (OrderWorkflow: `CompensationRecord`; a saga with string names
    brings a model of its own with the same fields)."""

    action: Any
    status: CompensationStatus
    undone: bool | None
    detail: str | None


R = TypeVar("R", bound=CompensationEntry)


@dataclass
class _Entry(Generic[R]):
    record: R
    run: CompensationFn


class Saga(Generic[R]):
    def __init__(
        self,
        records: list[R],
        *,
        parallel: bool = False,
        on_change: Callable[[R], None] = lambda _: None,
        new_record: Callable[[Any], R] | None = None,
    ) -> None:
        """`records` is the list the workflow reports in its status: empty unless compensation started, then every
        compensation in the order it runs, with its progress. `parallel` runs them all at once instead of one by
        one in reverse (only for compensations that do not depend on one another). `new_record` makes the record of
        a compensation from its name (default: an order's `CompensationRecord`)."""
        self._records = records
        self._entries: list[_Entry[R]] = []
        self._parallel = parallel
        self._on_change = on_change
        self._new_record = new_record or cast(Callable[[Any], R], lambda action: CompensationRecord(action=action))

    def register(self, action: Any, run: CompensationFn) -> None:
        """Add the compensation named `action`: it runs before every one registered earlier."""
        self._entries.append(_Entry(self._new_record(action), run))

    async def compensate(self, on_stuck: Callable[[], Awaitable[None]]) -> None:
        """Run every registered compensation, last registered first.

        Each compensation retries on its own (see workflows/policies.py). If one still fails, the rest are attempted
        anyway, then `on_stuck` is awaited (it returns when an operator asks for another try) and only the failed
        ones run again. Returns once every compensation has succeeded.
        """
        pending = list(reversed(self._entries))
        self._records.extend(entry.record for entry in pending)
        while True:
            if self._parallel:
                succeeded = await asyncio.gather(*(self._attempt(entry) for entry in pending))
            else:
                succeeded = [await self._attempt(entry) for entry in pending]
            failed = [entry for entry, ok in zip(pending, succeeded, strict=True) if not ok]
            if not failed:
                return
            await on_stuck()
            pending = failed

    async def _attempt(self, entry: _Entry[R]) -> bool:
        entry.record.status = CompensationStatus.RUNNING
        self._on_change(entry.record)
        try:
            outcome = await entry.run()
        except (ActivityError, ApplicationError) as err:
            # ApplicationError: a compensation the workflow composes itself refused before any call (a declared undo
            # whose request cannot be rendered): recorded and retried by an operator like a failed call, never left
            # to fail the execution with the undos still pending.
            entry.record.status = CompensationStatus.FAILED
            entry.record.detail = describe_failure(err).reason
            self._on_change(entry.record)
            return False
        entry.record.status = CompensationStatus.DONE
        entry.record.undone, entry.record.detail = outcome.undone, outcome.detail
        self._on_change(entry.record)
        return True
