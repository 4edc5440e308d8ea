"""Orders of every kind, played to their end on a running stack: what the adversarial suites then attack.

Every path an order can take: completed (small and risk-checked), declined, out of stock, reviewed (approved,
rejected, expired), cancelled while each of its five calls is in flight (the call applied, its answer held back), and
a compensation failing for a while before it heals.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle

from activities.records import OrderRecords, ServiceRecords
from cadenza.codec import KeyRing
from cadenza.errors import CadenzaError
from clients.orders import place_order, send_review, wait_for_result
from starters.faults import FaultAdmin
from workflows.models import WORKFLOW_ID_PREFIX, Order, OrderLine, OrderState, ReviewDecision, ReviewVerdict
from workflows.order import OrderWorkflow

# 20.00, 2,000.00 (risk-checked, approved) and 12,000.00 EUR (referred to a person).
SMALL, LARGE, VERY_LARGE = 2_000, 200_000, 1_200_000
REVIEW_EXPIRES_AFTER = timedelta(seconds=2)
# Whether a forward call has been applied, by the service's records, and the service that holds them.
APPLIED: dict[str, tuple[str, Callable[[OrderRecords], bool]]] = {
    "create_erp_order": ("erp", lambda r: r.erp_order is not None),
    "charge_payment": ("payment", lambda r: bool(r.charges)),
    "reserve_inventory": ("inventory", lambda r: bool(r.reservations)),
    "confirm_erp_order": ("erp", lambda r: (r.erp_order or {}).get("status") == "confirmed"),
    "commit_inventory": ("inventory", lambda r: any(x["status"] == "committed" for x in r.reservations)),
}
APPLIED_AT = ("erp", "payment", "inventory")
STALL_MS = 1_500
WAIT_S = 60.0


class ScenarioFailed(CadenzaError, RuntimeError):
    """A scenario did not play out as written; what the suites would attack is not there."""


@dataclass(frozen=True)
class Fault:
    """A scripted fault for the scenario's own calls of `call` (cadenza/faults.py)."""

    service: str
    kind: str
    call: str
    times: int = 1


@dataclass(frozen=True)
class Scenario:
    name: str
    order: Order
    play: Callable[[WorkflowHandle], Awaitable[None]]
    faults: tuple[Fault, ...] = ()
    review_deadline: timedelta | None = None


class ScenarioPlayer:
    """Plays every scenario side by side on the stack `client` talks to; returns each order's workflow id. Reviews
    are signed with `keys` (default: this process's decision keys)."""

    def __init__(
        self,
        client: Client,
        faults: FaultAdmin,
        records: ServiceRecords,
        task_queue: str,
        *,
        keys: KeyRing | None = None,
    ) -> None:
        self._client, self._faults, self._records, self._task_queue = client, faults, records, task_queue
        self._keys = keys
        self._run = uuid.uuid4().hex[:6]

    async def play_all(self) -> dict[str, str]:
        # A held answer comes after the call's local attempt gave up but before its server attempt does, so that a
        # call can be cancelled while the server runs it (the default stall outlasts every attempt).
        for service in APPLIED_AT:
            await self._faults.set(service, {"stall_ms": STALL_MS})
        scenarios = self.scenarios()
        # One after the other: scripting a fault reads and rewrites the service's whole configuration.
        for scenario in scenarios:
            for fault in scenario.faults:
                match = f"{scenario.order.workflow_id}/{fault.call}"
                await self._faults.script(fault.service, fault.kind, times=fault.times, match=match)
        await asyncio.gather(*(self._play(scenario) for scenario in scenarios))
        return {scenario.name: scenario.order.workflow_id for scenario in scenarios}

    def scenarios(self) -> list[Scenario]:
        def finish(handle: WorkflowHandle) -> Awaitable[None]:
            return self._until_closed(handle)

        refused_refund = (Fault("payment", "error", "refund_payment", times=3),)
        found = [
            Scenario("happy", self._order("happy", SMALL), finish),
            Scenario("declined", self._order("declined", SMALL, token="tok_chargeDeclined"), finish),
            Scenario("out-of-stock", self._order("out-of-stock", SMALL, sku="SKU-OOS"), finish),
            Scenario("risk-checked", self._order("risk-checked", LARGE), finish),
            Scenario(
                "review-approved", self._order("review-approved", VERY_LARGE), self._decided(ReviewVerdict.APPROVE)
            ),
            Scenario(
                "review-rejected", self._order("review-rejected", VERY_LARGE), self._decided(ReviewVerdict.REJECT)
            ),
            Scenario(
                "review-expired",
                self._order("review-expired", VERY_LARGE),
                finish,
                review_deadline=REVIEW_EXPIRES_AFTER,
            ),
            Scenario("refund-healed", self._order("refund-healed", SMALL, sku="SKU-OOS"), finish, refused_refund),
        ]
        for call, (service, _) in APPLIED.items():
            name = f"cancelled-in-{call.replace('_', '-')}"
            # Held in its local attempt (the first request applied, its answer late), or once more after that, while
            # the server runs the call as an activity of its own task.
            found.append(
                Scenario(name, self._order(name, SMALL), self._cancelled_in(call), (Fault(service, "stall", call),))
            )
            name += "-on-server"
            held = (Fault(service, "stall", call, times=2),)
            found.append(Scenario(name, self._order(name, SMALL), self._cancelled_in(call, on_server=True), held))
        return found

    async def _play(self, scenario: Scenario) -> None:
        placed = await place_order(
            self._client, scenario.order, task_queue=self._task_queue, review_deadline=scenario.review_deadline
        )
        try:
            await scenario.play(placed.handle)
        except TimeoutError:
            raise ScenarioFailed(
                f"scenario {scenario.name} did not reach its end within {WAIT_S:.0f} s: see `cadenza order status "
                f"{scenario.order.order_id}`"
            ) from None

    def _decided(self, verdict: ReviewVerdict) -> Callable[[WorkflowHandle], Awaitable[None]]:
        async def play(handle: WorkflowHandle) -> None:
            await self._until(handle, lambda: self._in_state(handle, OrderState.AWAITING_REVIEW))
            decision = ReviewDecision(decision=verdict, reviewer="adversary", reason=f"scenario: {verdict.value}")
            await send_review(handle, decision, keys=self._keys)
            await self._until_closed(handle)

        return play

    def _cancelled_in(self, call: str, *, on_server: bool = False) -> Callable[[WorkflowHandle], Awaitable[None]]:
        _, applied = APPLIED[call]

        async def reached(handle: WorkflowHandle) -> bool:
            if on_server:  # scheduled on the server (its attempt may be over by the time the cancel lands)
                return any(
                    [
                        event.activity_task_scheduled_event_attributes.activity_type.name == call
                        async for event in handle.fetch_history_events()
                    ]
                )
            return applied(await self._records.for_order(handle.id.removeprefix(WORKFLOW_ID_PREFIX)))

        async def play(handle: WorkflowHandle) -> None:
            async with asyncio.timeout(WAIT_S):
                while not await reached(handle):
                    await asyncio.sleep(0.02)
            await handle.cancel()
            await self._until_closed(handle)

        return play

    async def _in_state(self, handle: WorkflowHandle, state: OrderState) -> bool:
        return (await handle.query(OrderWorkflow.status)).state == state

    async def _until(self, handle: WorkflowHandle, reached: Callable[[], Awaitable[bool]]) -> None:
        async with asyncio.timeout(WAIT_S):
            while not await reached():
                await asyncio.sleep(0.05)

    async def _until_closed(self, handle: WorkflowHandle) -> None:
        async with asyncio.timeout(WAIT_S):
            await wait_for_result(handle)

    def _order(self, name: str, unit_price: int, *, token: str = "tok_visa", sku: str = "SKU-LAMP") -> Order:
        return Order(
            order_id=f"adv-{self._run}-{name}",
            customer_id="c-adversary",
            currency="EUR",
            payment_token=token,
            lines=[OrderLine(sku=sku, quantity=1, unit_price=unit_price)],
        )
