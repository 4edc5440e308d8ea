"""What the Order API answers about orders: its response models and how they are built from Temporal's view."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cadenza.settings import workflow_ui_link
from workflows.models import (
    CompensationRecord,
    OrderProgress,
    OrderState,
    PaymentDecision,
    Step,
    WORKFLOW_ID_PREFIX,
)


class OrderLinks(BaseModel):
    self: str
    events: str = Field(description="Server-Sent Events: one per change of progress, until the order closes")
    web_ui: str = Field(description="The order's execution in the Temporal Web UI")


class OrderStatusView(BaseModel):
    """An order's progress, running or closed."""

    order_id: str
    state: OrderState | None = Field(description="Cadenza's state; null when no worker could be asked yet")
    execution_status: str = Field(description="Temporal's execution status: RUNNING, COMPLETED, CANCELED, …")
    closed: bool
    current_step: Step | None = None
    completed_steps: list[Step] = Field(default_factory=list)
    failed_step: Step | None = None
    reason: str | None = None
    error_type: str | None = None
    compensations: list[CompensationRecord] = Field(default_factory=list)
    charge_id: str | None = None
    reservation_id: str | None = None
    payment: PaymentDecision | None = None
    note: str | None = Field(default=None, description="Why some of the progress is missing, if it is")
    links: OrderLinks


class OrderSummary(BaseModel):
    """One order in a listing (from Temporal visibility: no worker is asked)."""

    order_id: str
    state: str | None
    customer_id: str | None
    total_amount: int | None = Field(description="In minor units")
    execution_status: str
    started_at: datetime | None
    closed_at: datetime | None
    links: OrderLinks


class OrderPage(BaseModel):
    orders: list[OrderSummary]
    next_page_token: str | None = Field(description="Pass as page_token for the next page; null on the last page")


class Accepted(BaseModel):
    """A request taken on: what will happen, and where to follow it."""

    order_id: str
    detail: str
    links: OrderLinks


def links(order_id: str, namespace: str) -> OrderLinks:
    return OrderLinks(
        self=f"/orders/{order_id}",
        events=f"/orders/{order_id}/events",
        web_ui=workflow_ui_link(namespace, f"{WORKFLOW_ID_PREFIX}{order_id}"),
    )


def status_view(
    order_id: str, execution_status: str, progress: OrderProgress | None, namespace: str, note: str | None = None
) -> OrderStatusView:
    known = progress.model_dump(exclude={"order_id", "risk"}) if progress else {"state": None}
    return OrderStatusView(
        order_id=order_id,
        execution_status=execution_status,
        closed=execution_status != "RUNNING",
        note=note,
        links=links(order_id, namespace),
        **known,
    )
