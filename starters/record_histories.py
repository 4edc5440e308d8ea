"""`cadenza replay-record`: run one order per scenario on a live stack and save each execution's history as JSON.

These files are what the replay tests (tests/replay/) hold every future version of `OrderWorkflow` to: a change that
could not continue one of these executions fails the suite before it reaches a worker. Record them with the code that
runs in production *before* changing the workflow, into a folder of their own, and keep them.

Scenarios: every `cadenza demo` scenario, plus a cancelled order, a large order (above the risk-check threshold), an
order whose compensation failed and waited for an operator (`needs_attention`), and a very large one in manual review
four ways: approved, rejected, its deadline passed, cancelled while it waited. (Histories recorded before manual review
have a `very_large_order` instead, which the risk check refused.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.http import ServiceClients
from activities.orders import OrderActivities
from cadenza.errors import CadenzaError, InvalidInput
from cadenza.failure_types import REFUND_REFUSED
from cadenza.settings import ServiceEndpoint, service_endpoints, settings
from clients.orders import place_order, retry_compensations, send_review, start_options, wait_for_result
from starters.demo import SAMPLE_CONTACT, SCENARIOS, Demo
from starters.faults import FaultAdmin
from starters.history_files import SUFFIX, write_history
from workers.worker import WORKFLOWS, worker_options
from workflows.models import (
    CompensationOutcome,
    Order,
    OrderLine,
    OrderProgress,
    OrderState,
    PaymentOutcome,
    ReviewDecision,
    ReviewVerdict,
    Step,
    StepFence,
)
from workflows.order import OrderWorkflow

DEFAULT_OUT = Path("tests/histories")

# Extra scenarios beyond the demo's, in the order they are recorded.
CANCELLED, LARGE, VERY_LARGE, NEEDS_ATTENTION = "cancelled", "large_order", "very_large_order", "needs_attention"
REVIEW_APPROVED, REVIEW_REJECTED = "review_approved", "review_rejected"
REVIEW_EXPIRED, REVIEW_CANCELLED = "review_expired", "review_cancelled"
PAYMENT_DECIDED = "payment_decided"
# What folders recorded before the payment decision was recorded hold (every folder up to first-attempts-together).
SCENARIOS_BEFORE_PAYMENT_DECIDED = (
    CANCELLED,
    LARGE,
    NEEDS_ATTENTION,
    REVIEW_APPROVED,
    REVIEW_REJECTED,
    REVIEW_EXPIRED,
    REVIEW_CANCELLED,
)
EXTRA_SCENARIOS = (*SCENARIOS_BEFORE_PAYMENT_DECIDED, PAYMENT_DECIDED)
# What folders recorded before manual review hold: there, a very large order was refused by the risk check.
SCENARIOS_BEFORE_REVIEW = (CANCELLED, LARGE, VERY_LARGE, NEEDS_ATTENTION)

# 1,200.00 and 12,000.00 EUR: above the risk check's threshold (1,000.00), and above the amount it approves without a
# person (10,000.00).
LARGE_LINES = (OrderLine(sku="SKU-LAMP", quantity=4, unit_price=30_000),)
VERY_LARGE_LINES = (OrderLine(sku="SKU-LAMP", quantity=8, unit_price=150_000),)
# Short enough for a recording, long enough to be seen waiting.
_SHORT_REVIEW_DEADLINE = timedelta(seconds=2)

# Scripted 503s for the cancelled order's charge: more than it can go through before the cancel arrives.
_PAYMENT_OUTAGE = 50


class RecordingFailed(CadenzaError, RuntimeError):
    """A scenario did not end the way its history is meant to show; nothing should be checked in from this run."""


class HistoriesExist(InvalidInput, FileExistsError):
    """The output folder already holds recorded histories: old histories are the point of replay testing."""


def scenario_file_name(name: str) -> str:
    """'payment 503 twice, then ok' → 'payment_503_twice_then_ok': the history file of a scenario."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def planned_files(out: Path, extra: tuple[str, ...] = EXTRA_SCENARIOS) -> list[Path]:
    names = [scenario_file_name(s.name) for s in SCENARIOS] + list(extra)
    return [out / f"{name}{SUFFIX}" for name in names]


def check_out_folder(out: Path, *, overwrite: bool) -> None:
    """Refuse to replace recorded histories unless asked to: they are what replay checks new code against."""
    existing = [path.name for path in planned_files(out) if path.exists()]
    if existing and not overwrite:
        raise HistoriesExist(
            f"{out} already holds recorded histories ({', '.join(existing)}). Replay checks new code against them, "
            "so keep them: record into a folder of its own (--out tests/histories/<change>), or pass --overwrite."
        )


@dataclass
class Recorder:
    """Plays the scenarios on the stack `client` talks to and writes one history file per execution to `out`."""

    client: Client
    http: httpx.AsyncClient
    out: Path
    task_queue: str = field(default_factory=lambda: settings().task_queue)
    overwrite: bool = False
    on_progress: Callable[[str], None] = lambda _: None

    def __post_init__(self) -> None:
        self._run_id = uuid.uuid4().hex[:6]
        self._faults = FaultAdmin(self.http)

    async def record(self) -> list[Path]:
        """Every scenario, then every history; raises `RecordingFailed` if one ended unexpectedly."""
        check_out_folder(self.out, overwrite=self.overwrite)
        workflow_ids = await self._demo_scenarios()
        workflow_ids[CANCELLED] = await self._cancelled()
        workflow_ids[LARGE] = await self._completed(LARGE, LARGE_LINES)
        workflow_ids[NEEDS_ATTENTION] = await self._needs_attention()
        approve, reject = ReviewVerdict.APPROVE, ReviewVerdict.REJECT
        workflow_ids[REVIEW_APPROVED] = await self._reviewed(REVIEW_APPROVED, OrderState.COMPLETED, decide=approve)
        workflow_ids[REVIEW_REJECTED] = await self._reviewed(REVIEW_REJECTED, OrderState.COMPENSATED, decide=reject)
        workflow_ids[REVIEW_EXPIRED] = await self._reviewed(REVIEW_EXPIRED, OrderState.COMPENSATED)
        workflow_ids[REVIEW_CANCELLED] = await self._reviewed(REVIEW_CANCELLED, OrderState.COMPENSATED, cancel=True)
        workflow_ids[PAYMENT_DECIDED] = await self.payment_decided()
        written = []
        for name, workflow_id in workflow_ids.items():
            path = self.out / f"{name}{SUFFIX}"
            write_history(path, await self.client.get_workflow_handle(workflow_id).fetch_history())
            written.append(path)
        return written

    # ---- the scenarios ----------------------------------------------------------------------------------------------

    async def _demo_scenarios(self) -> dict[str, str]:
        self.on_progress("Playing the demo scenarios")
        demo = Demo(self.client, self.http, self.task_queue)
        runs = await demo.run()
        if not demo.passed:
            problems = "; ".join(f"{run.scenario.name}: {', '.join(run.problems)}" for run in runs if run.problems)
            raise RecordingFailed(f"demo scenarios did not pass ({problems or ', '.join(demo.stock_problems)})")
        return {scenario_file_name(run.scenario.name): run.order.workflow_id for run in runs}

    async def _completed(self, name: str, lines: tuple[OrderLine, ...]) -> str:
        self.on_progress(f"Placing {name.replace('_', ' ')}")
        order = self._order(name, lines=lines)
        progress = await wait_for_result((await place_order(self.client, order, task_queue=self.task_queue)).handle)
        # Whatever the workflow version decides for such an order is what its history records; only a stuck or
        # half-compensated one would be a broken recording.
        _expect(name, progress, OrderState.COMPLETED, OrderState.COMPENSATED)
        return order.workflow_id

    async def _cancelled(self) -> str:
        """Cancelled while the charge is being retried (the payment service answers 503 until then)."""
        self.on_progress("Placing an order and cancelling it mid-charge")
        order = self._order(CANCELLED)
        match = f"{order.workflow_id}/{Step.CHARGE_PAYMENT.value}"
        await self._faults.script("payment", "error", times=_PAYMENT_OUTAGE, match=match)
        try:
            placed = await place_order(self.client, order, task_queue=self.task_queue)
            await _wait_for(placed.handle, lambda p: p.current_step == Step.CHARGE_PAYMENT)
            await asyncio.sleep(1.0)  # at least one failed attempt: the history shows a step retrying when cancelled
            await placed.handle.cancel()
            progress = await wait_for_result(placed.handle)
        finally:
            await self._faults.unscript("payment", match)
        _expect(CANCELLED, progress, OrderState.COMPENSATED, reason="cancelled on request")
        return order.workflow_id

    async def _reviewed(
        self, name: str, ends: OrderState, *, decide: ReviewVerdict | None = None, cancel: bool = False
    ) -> str:
        """A very large order in manual review, decided (`decide`), cancelled while it waits, or left to expire."""
        self.on_progress(f"Placing a very large order: {name.replace('_', ' ')}")
        order = self._order(name, lines=VERY_LARGE_LINES)
        deadline = None if decide or cancel else _SHORT_REVIEW_DEADLINE
        placed = await place_order(self.client, order, task_queue=self.task_queue, review_deadline=deadline)
        await _wait_for(placed.handle, lambda p: p.state == OrderState.AWAITING_REVIEW)
        if decide is not None:
            decision = ReviewDecision(decision=decide, reviewer="cadenza replay-record", reason=f"recorded: {name}")
            await send_review(placed.handle, decision)
        elif cancel:
            await placed.handle.cancel()
        _expect(name, await wait_for_result(placed.handle), ends)
        return order.workflow_id

    async def payment_decided(self) -> str:
        """Placed as the Order API's `Prefer: wait=payment` places it: started together with its `payment_decision`
        update (update-with-start), which answers at the charge while the order carries on to its end."""
        self.on_progress("Placing an order and waiting for its payment decision")
        order = self._order(PAYMENT_DECIDED)
        start = WithStartWorkflowOperation(
            OrderWorkflow.run,
            order,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            **start_options(order, self.task_queue),
        )
        decision = await self.client.execute_update_with_start_workflow(
            OrderWorkflow.payment_decision, start_workflow_operation=start
        )
        if decision.outcome != PaymentOutcome.CHARGED:
            raise RecordingFailed(f"{PAYMENT_DECIDED}: the payment was {decision.outcome.value}, not charged")
        _expect(PAYMENT_DECIDED, await wait_for_result(await start.workflow_handle()), OrderState.COMPLETED)
        return order.workflow_id

    async def _needs_attention(self) -> str:
        """A declined card whose refund compensation fails permanently, then succeeds after `retry_compensation`.

        Real services would need a compensation failing for `COMPENSATION_DEADLINE` (30 minutes of retries; the refund
        endpoint has no permanent refusal), so this one order runs on a worker of its own whose `refund_payment` is
        replaced by a fake that refuses once; every other activity is the real one, on the same stack.
        """
        self.on_progress("Placing an order whose refund fails, then resuming it as an operator would")
        order = self._order(NEEDS_ATTENTION, token="tok_chargeDeclined")
        fake_queue = f"{self.task_queue}-refund-refused-once"
        with _quiet_sdk_logs():
            async with worker_refusing_first_refund(self.client, self.http, fake_queue):
                placed = await place_order(self.client, order, task_queue=fake_queue)
                await _wait_for(placed.handle, lambda p: p.state == OrderState.NEEDS_ATTENTION)
                await retry_compensations(placed.handle, operator="cadenza replay-record")
                progress = await wait_for_result(placed.handle)
        _expect(NEEDS_ATTENTION, progress, OrderState.COMPENSATED)
        return order.workflow_id

    def _order(self, name: str, *, token: str = "tok_visa", lines: tuple[OrderLine, ...] | None = None) -> Order:
        return Order(
            order_id=f"rec-{self._run_id}-{name.replace('_', '-')}",
            customer_id="c-17",
            currency="EUR",
            payment_token=token,
            lines=list(lines or (OrderLine(sku="SKU-BOOK", quantity=1, unit_price=1250),)),
            **SAMPLE_CONTACT,
        )


def _expect(name: str, progress: OrderProgress, *states: OrderState, reason: str | None = None) -> None:
    if progress.state not in states or (reason and progress.reason != reason):
        expected = " or ".join(states) + (f" ({reason})" if reason else "")
        raise RecordingFailed(f"scenario {name} ended {progress.state} ({progress.reason}), expected {expected}")


async def _wait_for(handle: WorkflowHandle, reached: Callable[[OrderProgress], bool], timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while not reached(await handle.query(OrderWorkflow.status)):
            await asyncio.sleep(0.1)


@contextlib.contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """The SDK logs each failed activity with its traceback; here the failures are the point of the scenario, and
    the history records them anyway."""
    loggers = [logging.getLogger(name) for name in ("temporalio.activity", "temporalio.workflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def worker_refusing_first_refund(
    client: Client, http: httpx.AsyncClient, task_queue: str, endpoints: Mapping[str, ServiceEndpoint] | None = None
) -> Worker:
    """A worker with the real activities but a refund that the provider refuses, for good, once per order: the order
    waits in needs_attention for an operator (also used by tests that need an order there)."""
    real = OrderActivities(ServiceClients(http, endpoints or service_endpoints()))
    refused: set[str] = set()

    @activity.defn(name="refund_payment")
    async def refund_payment(fence: StepFence) -> CompensationOutcome:
        if fence.order_id not in refused:
            refused.add(fence.order_id)
            raise ApplicationError(
                "simulated for the recording: the payment provider refused the refund",
                type=REFUND_REFUSED,
                non_retryable=True,
            )
        return await real.refund_payment(fence)

    activities = [fn for fn in real.all() if fn.__name__ != "refund_payment"] + [refund_payment]
    return Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities, **worker_options())
