"""Fake activities with the real activities' names: they record calls and fail on cue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.first_attempts import make_first_attempts
from workflows.activity_types import FIRST_ATTEMPTS, ORDER_STEP_INPUTS, ORDER_STEP_RESULTS
from workflows.first_attempts import FirstAttempts, FirstAttemptsDone
from workflows.models import ChargeRecord, CompensationOutcome, ErpOrderRecord, ReservationRecord, RiskAssessment

_RESULTS: dict[str, Callable[[], Any]] = {
    "create_erp_order": lambda: ErpOrderRecord(order_id="o", status="pending"),
    "assess_risk": lambda: RiskAssessment(approved=True, score=24),
    "charge_payment": lambda: ChargeRecord(charge_id="ch_fake", amount=4200, currency="EUR"),
    "reserve_inventory": lambda: ReservationRecord(reservation_id="res_fake", status="held"),
    "confirm_erp_order": lambda: ErpOrderRecord(order_id="o", status="confirmed"),
    "commit_inventory": lambda: ReservationRecord(reservation_id="res_fake", status="committed"),
    "cancel_erp_order": lambda: CompensationOutcome(undone=True, detail="cancelled"),
    "refund_payment": lambda: CompensationOutcome(undone=True, detail="refunded"),
    "release_inventory": lambda: CompensationOutcome(undone=True, detail="released"),
}


def _taking_json(fake: Callable[[Any], Awaitable[Any]]) -> Callable[[BaseModel], Awaitable[Any]]:
    async def call(arg: BaseModel) -> Any:
        return await fake(arg.model_dump(mode="json"))

    return call


def permanent(error_type: str = "CardDeclined") -> ApplicationError:
    return ApplicationError(f"service refused: {error_type}", type=error_type, non_retryable=True)


def unavailable() -> ApplicationError:
    return ApplicationError("payment answered 503", type="ServiceUnavailable")


class FakeServices:
    """`failures[name]` is a list of errors raised by successive calls of activity `name` (then it succeeds);
    `delays[name]` makes a call take that many real seconds, long enough to cancel the workflow meanwhile;
    `results[name]` replaces what activity `name` answers (e.g. a shape the workflow cannot decode)."""

    def __init__(
        self,
        failures: dict[str, list[BaseException]] | None = None,
        delays: dict[str, float] | None = None,
        results: dict[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.failures = {name: list(errors) for name, errors in (failures or {}).items()}
        self.delays = delays or {}
        self.results = {**_RESULTS, **(results or {})}
        self.calls: list[str] = []
        self.arguments: list[tuple[str, Any]] = []
        """Every call's activity name and argument, in call order."""
        self.batches: list[list[str]] = []
        """The activities of each batch of first attempts handed over, in order."""
        self.started: dict[str, asyncio.Event] = {name: asyncio.Event() for name in _RESULTS}

    def activities(self) -> list[Callable[..., Any]]:
        fakes = {name: self._fake(name) for name in _RESULTS}

        # The real batch of first attempts (activities/first_attempts.py), over these fakes: each batched call is
        # recorded, fails and waits as the fake says.
        @activity.defn(name=FIRST_ATTEMPTS.name)
        async def first_attempts(batch: FirstAttempts) -> FirstAttemptsDone:
            self.batches.append([call.activity for call in batch.calls])
            # Each fake gets its input as JSON, as the data converter hands it to an activity taking `Any`.
            as_json = {name: _taking_json(fake) for name, fake in fakes.items()}
            return await make_first_attempts(batch, as_json, ORDER_STEP_INPUTS, ORDER_STEP_RESULTS)

        return [*fakes.values(), first_attempts]

    def _fake(self, name: str) -> Callable[..., Any]:
        @activity.defn(name=name)
        async def fake(argument: Any) -> Any:
            self.calls.append(name)
            self.arguments.append((name, argument))
            self.started[name].set()
            if name in self.delays:
                await asyncio.sleep(self.delays[name])
            pending = self.failures.get(name)
            if pending:
                raise pending.pop(0)
            return self.results[name]()

        return fake
