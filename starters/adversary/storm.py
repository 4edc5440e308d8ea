"""The query and update storm: large orders hammered by clients during their first workflow task, a worker restart in
the middle, then every history replayed and every order checked against the services.

What a busy client does: poll `GET /orders/{id}` (a `status` query each) every few milliseconds from the moment it
placed the order, follow its event stream (`events` queries), and send an update the order refuses (an operator's
retry of an order that is not in needs_attention). Every query and update lands while the order's first task
runs local attempts — where task boundaries move, and where patches asked after a call used to wedge orders. The
proof is that every history replays with the code that wrote it and every order ends as the services say.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError

from activities.audit import run_audit
from activities.records import ServiceRecords
from cadenza.codec import KeyRing
from clients.orders import place_order, retry_compensations, send_review, wait_for_result
from starters.replay import new_replayer
from workflows.models import Order, OrderLine, OrderState, ReviewDecision, ReviewVerdict
from workflows.order import OrderWorkflow

# 2,000.00 EUR (risk-checked and approved) and 12,000.00 EUR (referred to a person).
LARGE, VERY_LARGE = 200_000, 1_200_000
REVIEWER = "cadenza adversary storm"


@dataclass(frozen=True)
class StormPlan:
    orders: int = 100
    poll_every: timedelta = timedelta(milliseconds=5)
    poll_for: timedelta = timedelta(seconds=3)
    # Orders referred to review wait this long; every other one of them is approved, the rest expire.
    review_deadline: timedelta = timedelta(seconds=20)


@dataclass
class StormReport:
    orders: int = 0
    queries: int = 0
    updates_refused: int = 0
    ended: dict[str, int] = field(default_factory=dict)
    not_replayed: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.not_replayed and not self.problems


class Storm:
    """Plays a storm on the stack `client` talks to. `restart_worker` stops the order worker and starts it again;
    it is awaited once, when half of the orders have been placed."""

    def __init__(
        self,
        client: Client,
        records: ServiceRecords,
        task_queue: str,
        restart_worker: Callable[[], Awaitable[None]],
        *,
        log: Callable[[str], None] = lambda _: None,
        keys: KeyRing | None = None,
    ) -> None:
        self._client, self._records, self._task_queue = client, records, task_queue
        self._restart_worker, self._log = restart_worker, log
        self._keys = keys  # what its decisions are signed with (default: this process's decision keys)
        self._prefix = f"storm-{uuid.uuid4().hex[:6]}-"

    async def run(self, plan: StormPlan) -> StormReport:
        report = StormReport(orders=plan.orders)
        orders = [self._order(n) for n in range(plan.orders)]
        half = asyncio.Event()

        async def one(n: int, order: Order) -> str:
            if n == plan.orders // 2:
                half.set()
            handle = (
                await place_order(
                    self._client, order, task_queue=self._task_queue, review_deadline=plan.review_deadline
                )
            ).handle
            await asyncio.gather(self._hammer(handle, plan, report), self._stream(handle, report))
            await self._decide(handle, approve=n % 4 == 1, report=report)
            return (await wait_for_result(handle)).state.value

        async def restart_at_half() -> None:
            await half.wait()
            self._log("restarting the worker while orders are hammered")
            await self._restart_worker()

        restart = asyncio.create_task(restart_at_half())
        ends = await asyncio.gather(*(one(n, order) for n, order in enumerate(orders)))
        await restart
        for state in ends:
            report.ended[state] = report.ended.get(state, 0) + 1
        self._log("replaying every history with the code that wrote it")
        await self._replay_all(orders, report)
        self._log("auditing every order against the services' records")
        audit = await run_audit(self._client, self._records, prefix=self._prefix)
        report.problems += [f"{problem.order_id}: {problem.message}" for problem in audit.problems]
        return report

    async def _hammer(self, handle: WorkflowHandle, plan: StormPlan, report: StormReport) -> None:
        """Queries as fast as `poll_every` allows from the order's start, and an operator's retry the order cannot take
        (it is not in needs_attention): an update during the first task whose refusal changes nothing — whereas an
        early review decision would decide the order whenever it happened to land after the order began to wait."""
        # Signed like any door's: refused by the workflow's own validator, never by the signature check.
        try:
            await retry_compensations(handle, operator=REVIEWER, keys=self._keys)
        except WorkflowUpdateFailedError:
            report.updates_refused += 1
        except RPCError:
            pass  # the order closed before the update reached it: nothing to count
        loop = asyncio.get_running_loop()
        stop = loop.time() + plan.poll_for.total_seconds()
        while loop.time() < stop:
            with contextlib.suppress(RPCError):
                await handle.query(OrderWorkflow.status)
                report.queries += 1
            await asyncio.sleep(plan.poll_every.total_seconds())

    async def _stream(self, handle: WorkflowHandle, report: StormReport) -> None:
        """What `GET /orders/{id}/events` does: the events after the last one seen, until the order waits or ends."""
        seen = 0
        for _ in range(50):
            with contextlib.suppress(RPCError):
                seen += len(await handle.query(OrderWorkflow.events, seen))
                report.queries += 1
                state = (await handle.query(OrderWorkflow.status)).state
                if state in (OrderState.AWAITING_REVIEW, OrderState.COMPLETED, OrderState.COMPENSATED):
                    return
            await asyncio.sleep(0.05)

    async def _decide(self, handle: WorkflowHandle, *, approve: bool, report: StormReport) -> None:
        """Approve some of the orders that wait for a person; leave the others to expire."""
        if not approve:
            return
        for _ in range(200):
            progress = await handle.query(OrderWorkflow.status)
            if progress.state == OrderState.AWAITING_REVIEW:
                decision = ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer=REVIEWER, reason="storm")
                await send_review(handle, decision, keys=self._keys)
                return
            if progress.state in (OrderState.COMPLETED, OrderState.COMPENSATED):
                return
            await asyncio.sleep(0.1)

    async def _replay_all(self, orders: list[Order], report: StormReport) -> None:
        replayer = new_replayer(converter=self._client.data_converter)  # the keys of the stack it ran on
        for order in orders:
            history = await self._client.get_workflow_handle(order.workflow_id).fetch_history()
            result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
            if result.replay_failure is not None:
                report.not_replayed[order.order_id] = str(result.replay_failure).splitlines()[0][:300]

    def _order(self, n: int) -> Order:
        unit_price = VERY_LARGE if n % 2 else LARGE
        return Order(
            order_id=f"{self._prefix}{n:04d}",
            customer_id="c-storm",
            currency="EUR",
            payment_token="tok_visa",
            lines=[OrderLine(sku="SKU-LAMP", quantity=1, unit_price=unit_price)],
        )
