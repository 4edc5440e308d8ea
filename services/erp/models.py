"""ERP request and response bodies."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from services.common.fields import MAX_AMOUNT, Amount, Currency, ExternalId, RequestModel, Sku, WholeNumber
from services.common.lifecycle import TrackedRecord


class OrderStatus(StrEnum):
    """Lifecycle of a sales order: pending -> confirmed -> cancelled, or pending -> cancelled."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class OrderLine(RequestModel):
    """One product line of an order."""

    sku: Sku
    quantity: WholeNumber = Field(ge=1, le=10_000)
    unit_price: WholeNumber = Field(ge=0, le=MAX_AMOUNT, description="Integer minor units; 0 for free items")


class CreateOrderRequest(RequestModel):
    """Body of ``POST /orders``."""

    order_id: ExternalId
    customer_id: str = Field(min_length=1, max_length=64)
    currency: Currency
    total_amount: Amount
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]


class Order(TrackedRecord):
    """A sales order as the ERP records it."""

    order_id: str
    customer_id: str
    currency: str
    total_amount: int
    lines: list[OrderLine]
    status: OrderStatus


class OrderList(BaseModel):
    """Body of ``GET /orders``."""

    orders: list[Order]
