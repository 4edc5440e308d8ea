"""The audit (`cadenza audit`, and the reconciler's judgement of each order): reconcile every order's workflow outcome
with what the three services recorded.

The services' records are the ground truth; Temporal's visibility store says how each order ended (execution status
plus the `OrderStatus` and `OrderTotal` search attributes, so no history has to be fetched). Invariants:
- a `completed` order: ERP order confirmed, exactly one live charge keeping the total net of refunds, one committed
  reservation;
- a `compensated` order: no live ERP order, every charge refunded, no reservation holding stock;
- every order is closed (an open one is stuck, or waiting for an operator in `needs_attention`); an open order whose
  workflow task keeps failing is reported as stuck with its cause and next step, whatever its `OrderStatus` says
  (activities/stuck.py: one describe per open order, its history only when its task is failing);
- an order Temporal has no execution of (never placed through Cadenza, or its execution deleted: namespace retention
  deletes closed executions routinely) is judged by its records alone: fulfilled, or with nothing live left;
- no charge is ever duplicated;
- every SKU's stock equals its seed minus what committed reservations shipped, and its reserved count equals what
  held reservations set aside.

An order is judged by its current run (activities/order_runs.py, shared with the reconciler).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from activities.consistency import (
    duplicate_charges,
    fulfilled,
    fulfilment_begun,
    inconsistencies,
    live_records,
    stock_inconsistencies,
)
from activities.order_runs import described_run, order_runs, orders_query
from activities.records import OrderRecords, ServiceRecords
from activities.stuck import stuck_orders
from cadenza.search_attributes import ORDER_STATUS, ORDER_TOTAL
from workflows.models import OrderState

# How an order Temporal has no execution of stands by its own records (`without_execution`).
FULFILLED_WITHOUT_EXECUTION = "fulfilled, execution deleted"
PARTLY_FULFILLED_WITHOUT_EXECUTION = "partly fulfilled, execution deleted"
LIVE_WITHOUT_EXECUTION = "live records, no execution"
NOTHING_LIVE_WITHOUT_EXECUTION = "nothing live, no execution"


@dataclass(frozen=True)
class Inconsistency:
    """One thing the services' records and an order's outcome disagree on (or "(stock)" for the stock as a whole)."""

    order_id: str
    message: str


@dataclass
class AuditReport:
    orders: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[Inconsistency] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class OrderOutcome:
    state: OrderState | None
    total_amount: int | None
    description: str


def order_outcome(execution: WorkflowExecution) -> OrderOutcome:
    attributes = execution.typed_search_attributes
    status_attr, total = attributes.get(ORDER_STATUS), attributes.get(ORDER_TOTAL)
    status = execution.status
    if status == WorkflowExecutionStatus.COMPLETED and status_attr in (OrderState.COMPLETED, OrderState.COMPENSATED):
        return OrderOutcome(OrderState(status_attr), total, status_attr)
    if status == WorkflowExecutionStatus.FAILED and status_attr == OrderState.COMPENSATED:
        # A compensated order's execution ends Failed (workflows/order.py, COMPENSATED_FAILS_PATCH): as designed.
        return OrderOutcome(OrderState.COMPENSATED, total, status_attr)
    if status == WorkflowExecutionStatus.CANCELED:
        # A cancelled order ends as Cancelled after running its compensations.
        return OrderOutcome(OrderState.COMPENSATED, total, "cancelled")
    if status == WorkflowExecutionStatus.RUNNING and status_attr == OrderState.AWAITING_REVIEW:
        # Waiting for a person is a state an audit can check (nothing charged yet), not an unfinished order.
        return OrderOutcome(OrderState.AWAITING_REVIEW, total, status_attr)
    name = status.name.lower() if status else "unknown"
    return OrderOutcome(None, total, f"{name} ({status_attr or 'no OrderStatus'})")


def order_problems(outcome: OrderOutcome, records: OrderRecords) -> list[str]:
    """Every way an order's records contradict how its execution ended (shared with the reconciler)."""
    if outcome.state is None:
        return [f"not closed as completed or compensated: {outcome.description}"]
    if outcome.total_amount is None:
        return ["no OrderTotal search attribute: cannot check the amount"]
    return inconsistencies(outcome.state, outcome.total_amount, records)


def without_execution(records: OrderRecords) -> tuple[str, list[str]]:
    """How an order Temporal has no execution of stands by its own records, and what is wrong with it (shared with
    the reconciler). Its execution may simply have been deleted, so the records are all there is to go by:
    - its fulfilment began (ERP order confirmed or stock committed): judged as a completed order of the ERP order's
      total. Fulfilled, that is no problem (retention deletes completed orders' executions every day);
    - nothing of it is live: no problem either, unless it was charged twice;
    - anything else live (a charge, a pending ERP order, held stock) is a problem."""
    if fulfilment_begun(records):
        standing = FULFILLED_WITHOUT_EXECUTION if fulfilled(records) else PARTLY_FULFILLED_WITHOUT_EXECUTION
        problems = _as_completed(records)
    elif live := live_records(records):
        return LIVE_WITHOUT_EXECUTION, [
            f"services hold live records of an order Temporal has no execution of: {', '.join(live)}"
        ]
    else:
        standing, problems = NOTHING_LIVE_WITHOUT_EXECUTION, duplicate_charges(records)
    return standing, [f"{standing}: {'; '.join(problems)}"] if problems else []


def _as_completed(records: OrderRecords) -> list[str]:
    if records.erp_order is None:
        return ["stock committed without an ERP order"]
    return inconsistencies(OrderState.COMPLETED, records.erp_order["total_amount"], records)


STUCK = "stuck"


async def _closed_since_listed(client: Client, order_id: str, listed: WorkflowExecution) -> WorkflowExecution | None:
    """The run to judge the order by. Visibility is written after the fact and can list a run as open moments after
    it closed (more so on a busy server), which would make a just-finished order a problem. A run listed as anything
    but a finished order is asked of the server itself (`described_run`, never behind); None when its execution is
    gone by now."""
    if order_outcome(listed).state is not None:
        return listed
    return await described_run(client, order_id)


async def run_audit(client: Client, records: ServiceRecords, *, prefix: str = "") -> AuditReport:
    """Reconcile the orders whose id starts with `prefix` (all by default)."""
    report = AuditReport()
    runs = await order_runs(client, orders_query(prefix=prefix))
    stuck = await stuck_orders(client, runs.values())
    service_records = {k: v for k, v in (await records.everything()).items() if k.startswith(prefix)}

    for order_id in sorted(runs.keys() | service_records.keys()):
        order_records = service_records.get(order_id) or OrderRecords(order_id, None, [], [])
        if order_id in stuck:  # its OrderStatus is what it was doing when it wedged: no rule of that state applies
            standing, problems = STUCK, [stuck[order_id].summary()]
        elif order_id in runs and (run := await _closed_since_listed(client, order_id, runs[order_id])) is not None:
            outcome = order_outcome(run)
            standing, problems = outcome.description, order_problems(outcome, order_records)
        else:
            standing, problems = without_execution(order_records)
        report.orders += 1
        report.outcomes[standing] += 1
        report.problems += [Inconsistency(order_id, message) for message in problems]
    if not prefix:  # stock is shared by every order: only meaningful over all of them
        stock = await records.stock()
        for message in stock_inconsistencies(stock, await records.all_reservations()):
            report.problems.append(Inconsistency("(stock)", message))
    return report
