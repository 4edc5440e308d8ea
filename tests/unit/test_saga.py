"""The saga on its own: order of compensations, parallel mode, failures kept and retried."""

from __future__ import annotations

import asyncio

from temporalio.exceptions import ActivityError, ApplicationError

from workflows.models import Compensation, CompensationOutcome, CompensationRecord, CompensationStatus
from workflows.saga import Saga


def _failed(message: str) -> ActivityError:
    error = ActivityError(
        "activity failed",
        scheduled_event_id=1,
        started_event_id=2,
        identity="test",
        activity_type="x",
        activity_id="1",
        retry_state=None,
    )
    error.__cause__ = ApplicationError(message, type="Refused", non_retryable=True)
    return error


class _Compensations:
    def __init__(self, fail_first: set[Compensation] = frozenset()) -> None:
        self.started: list[Compensation] = []
        self.running = 0
        self.most_at_once = 0
        self._fail_first = set(fail_first)

    def make(self, action: Compensation):
        async def run() -> CompensationOutcome:
            self.started.append(action)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            await asyncio.sleep(0.01)
            self.running -= 1
            if action in self._fail_first:
                self._fail_first.discard(action)
                raise _failed(f"{action} refused")
            return CompensationOutcome(undone=True, detail=f"{action} done")

        return run


def _saga(compensations: _Compensations, records: list[CompensationRecord], parallel: bool = False) -> Saga:
    saga = Saga(records, parallel=parallel)
    for action in Compensation:
        saga.register(action, compensations.make(action))
    return saga


async def test_compensations_run_one_at_a_time_newest_first():
    compensations, records = _Compensations(), []
    await _saga(compensations, records).compensate(on_stuck=_never)
    assert compensations.started == list(reversed(Compensation))
    assert compensations.most_at_once == 1
    assert [r.action for r in records] == list(reversed(Compensation))


async def test_parallel_mode_runs_every_compensation_at_once():
    compensations, records = _Compensations(), []
    await _saga(compensations, records, parallel=True).compensate(on_stuck=_never)
    assert compensations.most_at_once == len(Compensation)
    assert all(r.status == CompensationStatus.DONE for r in records)


async def test_a_failure_is_kept_the_rest_still_run_and_only_the_failed_one_is_retried():
    compensations, records = _Compensations(fail_first={Compensation.REFUND_PAYMENT}), []
    stuck_with: list[list[tuple[str, str]]] = []

    async def operator() -> None:
        stuck_with.append([(r.action.value, r.status.value) for r in records])

    await _saga(compensations, records).compensate(on_stuck=operator)
    assert stuck_with == [[("release_inventory", "done"), ("refund_payment", "failed"), ("cancel_erp_order", "done")]]
    assert compensations.started.count(Compensation.REFUND_PAYMENT) == 2
    assert compensations.started.count(Compensation.CANCEL_ERP_ORDER) == 1
    assert all(r.status == CompensationStatus.DONE for r in records)


async def _never() -> None:
    raise AssertionError("no compensation should have failed")
