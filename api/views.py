"""What the Order API answers about orders: its response models and how they are built from Temporal's view."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.ownership import OrderAddress
from cadenza.settings import workflow_ui_link
from workflows.models import OrderProgress, OrderState


class OrderLinks(BaseModel):
    self: str = Field(description="The order; an order placed with a key bound to its customer names the customer")
    events: str = Field(description="Server-Sent Events: one per change of progress, until the order closes")
    web_ui: str = Field(description="The order's execution in the Temporal Web UI")


class OrderStatusView(OrderProgress):
    """An order's progress (the workflow's own, as the CLI shows it), running or closed, with Temporal's view."""

    # Wider than OrderProgress.state on purpose: a view can exist before any worker answered; nothing takes it for one.
    state: OrderState | None = Field(description="Cadenza's state; null when no worker could be asked yet")  # type: ignore[assignment]
    execution_status: str = Field(
        description="Temporal's execution status: RUNNING, COMPLETED, FAILED (when compensated), CANCELED, …"
    )
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


def links(address: OrderAddress, namespace: str) -> OrderLinks:
    path, _, query = address.path.partition("?")
    return OrderLinks(
        self=address.path,
        events=f"{path}/events" + (f"?{query}" if query else ""),
        web_ui=workflow_ui_link(namespace, address.workflow_id),
    )


def status_view(
    address: OrderAddress,
    execution_status: str,
    progress: OrderProgress | None,
    namespace: str,
    note: str | None = None,
) -> OrderStatusView:
    # The progress names the order as filed (the workflow's input); the view names it as the client does.
    known = progress.model_dump(exclude={"order_id"}) if progress else {"state": None}
    return OrderStatusView(
        order_id=address.order_id,
        execution_status=execution_status,
        closed=execution_status != "RUNNING",
        note=note,
        links=links(address, namespace),
        **known,
    )
