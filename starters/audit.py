"""`cadenza audit`: reconcile every order's workflow outcome with what the three services recorded.

The services' records are the ground truth; Temporal's visibility store says how each order ended (execution status
plus the `OrderStatus` and `OrderTotal` search attributes, so no history has to be fetched). Invariants:
- a `completed` order: ERP order confirmed, exactly one live charge keeping the total net of refunds, one committed
  reservation;
- a `compensated` order: no live ERP order, every charge refunded, no reservation holding stock;
- every order is closed (an open one is stuck, or waiting for an operator in `needs_attention`); an open order whose
  workflow task keeps failing is reported as stuck with its cause and next step, whatever its `OrderStatus` says
  (activities/stuck.py: one describe per open order, its history only when its task is failing);
- no service holds records of an order Temporal never saw; no charge is ever duplicated;
- every SKU's stock equals its seed minus what committed reservations shipped, and its reserved count equals what
  held reservations set aside.

An order is judged by its current run: a reset (or any other new run of the same workflow id) supersedes the runs
before it, and visibility lists every run, the superseded ones too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from activities.stuck import stuck_orders
from starters.consistency import inconsistencies, stock_inconsistencies
from starters.records import OrderRecords, ServiceRecords
from workflows.models import WORKFLOW_ID_PREFIX, OrderState
from workflows.search_attributes import ORDER_STATUS, ORDER_TOTAL


@dataclass(frozen=True)
class Problem:
    order_id: str
    message: str


@dataclass
class AuditReport:
    orders: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

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


def current_runs(executions: Iterable[WorkflowExecution]) -> dict[str, WorkflowExecution]:
    """The run of each workflow id that decides its order's fate: the open one if there is one (a workflow id has at
    most one), otherwise the newest. An older run's outcome must never mask the current one: after a reset, the reset
    run is the order, whatever the run it replaced had reached."""
    current: dict[str, WorkflowExecution] = {}
    for execution in executions:
        kept = current.get(execution.id)
        if kept is None or _recency(execution) > _recency(kept):
            current[execution.id] = execution
    return current


def _recency(execution: WorkflowExecution) -> tuple[bool, datetime]:
    return execution.status == WorkflowExecutionStatus.RUNNING, execution.start_time


STUCK = "stuck"


async def run_audit(client: Client, records: ServiceRecords, *, prefix: str = "") -> AuditReport:
    """Reconcile the orders whose id starts with `prefix` (all by default)."""
    report = AuditReport()
    query = 'WorkflowType="OrderWorkflow"'
    if prefix:
        query += f' AND WorkflowId STARTS_WITH "{WORKFLOW_ID_PREFIX}{prefix}"'
    runs = current_runs([execution async for execution in client.list_workflows(query)])
    outcomes = {workflow_id.removeprefix(WORKFLOW_ID_PREFIX): order_outcome(run) for workflow_id, run in runs.items()}
    stuck = await stuck_orders(client, runs.values())
    service_records = {k: v for k, v in (await records.everything()).items() if k.startswith(prefix)}

    report.orders = len(outcomes)
    for order_id, outcome in sorted(outcomes.items()):
        if order_id in stuck:  # its OrderStatus is what it was doing when it wedged: no rule of that state applies
            report.outcomes[STUCK] += 1
            report.problems.append(Problem(order_id, stuck[order_id].summary()))
            continue
        report.outcomes[outcome.description] += 1
        order_records = service_records.get(order_id) or OrderRecords(order_id, None, [], [])
        for message in order_problems(outcome, order_records):
            report.problems.append(Problem(order_id, message))
    for order_id in sorted(service_records.keys() - outcomes.keys()):
        report.problems.append(Problem(order_id, "services hold records of an order Temporal never saw"))
    if not prefix:  # stock is shared by every order: only meaningful over all of them
        stock = await records.stock()
        for message in stock_inconsistencies(stock, await records.all_reservations()):
            report.problems.append(Problem("(stock)", message))
    return report
