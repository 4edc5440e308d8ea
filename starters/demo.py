"""`cadenza demo`: one order per scenario, watched live, then proven against the services' own records."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from typing import TypedDict

import httpx
from rich.live import Live
from rich.table import Table
from temporalio.client import Client

from activities.consistency import inconsistencies, stock_inconsistencies
from activities.records import ServiceRecords
from cadenza.failure_types import CARD_DECLINED, OUT_OF_STOCK
from cadenza.settings import settings, workflow_ui_link
from clients.orders import place_order, wait_for_result
from starters.faults import FaultAdmin
from workflows.models import (
    CompensationRecord,
    CompensationStatus,
    Order,
    OrderLine,
    OrderProgress,
    OrderState,
    ShippingAddress,
    Step,
)
from workflows.order import OrderWorkflow


@dataclass(frozen=True)
class Scenario:
    name: str
    token: str = "tok_visa"
    skus: tuple[str, ...] = ("SKU-BOOK", "SKU-MUG")
    expected_state: OrderState = OrderState.COMPLETED
    expected_failed_step: Step | None = None
    expected_error: str | None = None
    payment_503s: int = 0
    place_twice: bool = False


SCENARIOS = (
    Scenario("happy path"),
    Scenario(
        "declined card",
        token="tok_chargeDeclined",
        expected_state=OrderState.COMPENSATED,
        expected_failed_step=Step.CHARGE_PAYMENT,
        expected_error=CARD_DECLINED,
    ),
    Scenario(
        "out of stock",
        skus=("SKU-BOOK", "SKU-OOS"),
        expected_state=OrderState.COMPENSATED,
        expected_failed_step=Step.RESERVE_INVENTORY,
        expected_error=OUT_OF_STOCK,
    ),
    Scenario("payment 503 twice, then ok", payment_503s=2),
    Scenario("same order placed twice", place_twice=True),
)


@dataclass
class ScenarioRun:
    scenario: Scenario
    order: Order
    link: str
    started: float = field(default_factory=time.monotonic)
    progress: OrderProgress | None = None
    duration: float | None = None
    duplicate_detected: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.duration is not None and not self.problems


# The customer every generated order ships to (demo, recorded histories, benchmark): fictional, but shaped like the
# personal data real orders carry, so that what the Web UI shows (encrypted) is what it would show for real ones.
class Contact(TypedDict):
    customer_name: str
    customer_email: str
    shipping_address: ShippingAddress


SAMPLE_CONTACT: Contact = {
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "shipping_address": ShippingAddress(
        line1="12 St James's Square", postal_code="SW1Y 4LB", city="London", country="GB"
    ),
}


def _order_for(scenario: Scenario, run_id: str) -> Order:
    slug = scenario.name.split()[0].lower()
    return Order(
        order_id=f"demo-{run_id}-{slug}",
        customer_id="c-17",
        currency="EUR",
        payment_token=scenario.token,
        lines=[OrderLine(sku=sku, quantity=i + 1, unit_price=1250 + 500 * i) for i, sku in enumerate(scenario.skus)],
        **SAMPLE_CONTACT,
    )


def _check_outcome(run: ScenarioRun) -> list[str]:
    scenario, progress = run.scenario, run.progress
    assert progress is not None
    problems = []
    if progress.state != scenario.expected_state:
        problems.append(f"ended {progress.state}, expected {scenario.expected_state}")
    if progress.failed_step != scenario.expected_failed_step:
        problems.append(f"failed at {progress.failed_step}, expected {scenario.expected_failed_step}")
    if scenario.expected_error and progress.error_type != scenario.expected_error:
        problems.append(f"error {progress.error_type}, expected {scenario.expected_error}")
    if scenario.place_twice and not run.duplicate_detected:
        problems.append("the second placement started a new workflow")
    return problems


class Demo:
    def __init__(self, client: Client, http: httpx.AsyncClient, task_queue: str | None = None) -> None:
        self._client = client
        self._records = ServiceRecords(http)
        self._faults = FaultAdmin(http)
        self._task_queue = task_queue or settings().task_queue
        self.runs: list[ScenarioRun] = []
        self.stock_problems: list[str] = []

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs) and not self.stock_problems

    async def run(self, live: Live | None = None) -> list[ScenarioRun]:
        run_id = uuid.uuid4().hex[:6]
        self.runs = [
            ScenarioRun(s, order := _order_for(s, run_id), workflow_ui_link(self._client.namespace, order.workflow_id))
            for s in SCENARIOS
        ]
        watcher = asyncio.create_task(self._watch(live))
        try:
            await asyncio.gather(*(self._play(run) for run in self.runs))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await self._check_stock()
        if live is not None:
            live.update(self.table())
        return self.runs

    async def _play(self, run: ScenarioRun) -> None:
        scenario, order = run.scenario, run.order
        if scenario.payment_503s:
            await self._faults.script(
                "payment", "error", times=scenario.payment_503s, match=f"{order.workflow_id}/charge_payment"
            )
        placed = await place_order(self._client, order, task_queue=self._task_queue)
        if scenario.place_twice:
            again = await place_order(self._client, order, task_queue=self._task_queue)
            run.duplicate_detected = again.duplicate and again.handle.result_run_id == placed.handle.result_run_id
        run.progress = await wait_for_result(placed.handle)
        run.duration = time.monotonic() - run.started
        records = await self._records.for_order(order.order_id)
        run.problems = _check_outcome(run) + inconsistencies(run.progress.state, order.total_amount, records)

    async def _check_stock(self) -> None:
        self.stock_problems = stock_inconsistencies(await self._records.stock(), await self._records.all_reservations())

    async def _watch(self, live: Live | None) -> None:
        """Refresh the table from each workflow's `status` query while the scenarios run."""
        while live is not None:
            for run in self.runs:
                if run.duration is None:
                    try:
                        handle = self._client.get_workflow_handle(run.order.workflow_id)
                        run.progress = await handle.query(OrderWorkflow.status)
                    except Exception:  # noqa: BLE001 - not started yet, or between tasks: the next refresh will tell
                        pass
            live.update(self.table())
            await asyncio.sleep(0.25)

    def table(self) -> Table:
        table = Table(title="Cadenza demo: one order per scenario", title_justify="left")
        for column in ("scenario", "order", "outcome", "steps", "compensations", "time", "check"):
            table.add_column(column, no_wrap=column in ("order", "time"))
        for run in self.runs:
            table.add_row(*_row(run))
        return table

    def links(self) -> str:
        return "\n".join(f"  {run.scenario.name:<28} {run.link}" for run in self.runs)


def _compensation_mark(record: CompensationRecord) -> str:
    if record.status != CompensationStatus.DONE:
        return record.status.value
    return "undone" if record.undone else "nothing to undo"


def _row(run: ScenarioRun) -> tuple[str, ...]:
    order_id = run.order.order_id  # whole: what `cadenza order status` takes
    progress = run.progress
    if progress is None:
        return (run.scenario.name, order_id, "starting…", "", "", "", "")
    outcome = progress.state.value
    if progress.failed_step:
        outcome += f" at {progress.failed_step.value}\n({progress.error_type})"
    steps = f"{len(progress.completed_steps)}/{len(Step)}"
    if progress.current_step and progress.state == OrderState.RUNNING:
        steps += f" [cyan]{progress.current_step.value}…[/]"
    compensations = "\n".join(f"{c.action.value}: {_compensation_mark(c)}" for c in progress.compensations) or "—"
    if run.duration is None:
        return (run.scenario.name, order_id, outcome, steps, compensations, "…", "")
    check = "[green]✓[/]" if not run.problems else "[red]✗ " + "; ".join(run.problems) + "[/]"
    if run.scenario.place_twice and run.duplicate_detected:
        check += " 2nd placement → same run"
    return (run.scenario.name, order_id, outcome, steps, compensations, f"{run.duration:.1f} s", check)
