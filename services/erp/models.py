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


class ShippingAddress(RequestModel):
    """Where the order ships to."""

    line1: str = Field(min_length=1, max_length=200, examples=["Hauptstr. 1"])
    line2: str | None = Field(default=None, min_length=1, max_length=200)
    postal_code: str = Field(min_length=1, max_length=16, examples=["10115"])
    city: str = Field(min_length=1, max_length=100, examples=["Berlin"])
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO-3166 alpha-2", examples=["DE"])


class CustomerContact(RequestModel):
    """Who the order ships to: optional, as orders from before the ERP kept it have none."""

    customer_name: str | None = Field(default=None, min_length=1, max_length=200)
    customer_email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^@\s<>]{1,64}@[^@\s<>]+\.[^@\s<>]+$", examples=["ada@example.com"]
    )
    shipping_address: ShippingAddress | None = None


class CreateOrderRequest(CustomerContact):
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
    customer_name: str | None = None
    customer_email: str | None = None
    shipping_address: ShippingAddress | None = None


class OrderList(BaseModel):
    """Body of ``GET /orders``."""

    orders: list[Order]
