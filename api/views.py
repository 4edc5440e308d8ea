"""What the Order API answers about orders: its response models and how they are built from Temporal's view."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from cadenza.settings import workflow_ui_link
from workflows.models import WORKFLOW_ID_PREFIX, OrderProgress, OrderState


class OrderLinks(BaseModel):
    self: str
    events: str = Field(description="Server-Sent Events: one per change of progress, until the order closes")
    web_ui: str = Field(description="The order's execution in the Temporal Web UI")


class OrderStatusView(OrderProgress):
    """An order's progress (the workflow's own, as the CLI shows it), running or closed, with Temporal's view."""

    state: OrderState | None = Field(description="Cadenza's state; null when no worker could be asked yet")
    execution_status: str = Field(description="Temporal's execution status: RUNNING, COMPLETED, CANCELED, …")
    closed: bool
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
    known = progress.model_dump(exclude={"order_id"}) if progress else {"state": None}
    return OrderStatusView(
        order_id=order_id,
        execution_status=execution_status,
        closed=execution_status != "RUNNING",
        note=note,
        links=links(order_id, namespace),
        **known,
    )
