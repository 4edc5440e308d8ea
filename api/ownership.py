"""Who owns an order id, settled before anything is done to it.

Order ids are the customers' own, so two customers may both have an `ord-2001`. Where an order is filed in Temporal
(and at the services, which key their records by the same id):

- placed with a key **bound to a customer**: under an id of that customer's own, `<order id>_<16 hex digits>` (the
  digits are a digest of customer and order id). Nobody else's order can ever sit there, so a customer cannot squat
  another's id, and update-with-start on it can only ever attach to the caller's own order.
- placed with a key bound to no customer (operators, a backend placing for many customers): under the order id itself,
  as every order was filed before customer-scoped ids existed. Such keys may see every order anyway.

Finding an order for a customer asks Temporal about both places at once — the customer's own id and the plain one —
and takes the plain one only if its `CustomerId` search attribute (set when the order was started, never changed)
names that customer. So orders placed before scoped ids keep being reachable, and "another customer's order" looks
exactly like "no order": the same two lookups, the same 404.

Why not read the order's customer from its input or memo: both are encrypted; the search attribute is not, and it is
what visibility already filters listings by.

The filed id is itself a valid order id (letters, digits, `_`, `-`, at most 64), so the CLI addresses such an order
by it (`cadenza order status ord-2001_3fa9c1e2b4d5a6f7`), the services' records carry it, and `cadenza audit` and
the reconciler pair records with executions as before. The customer's own id is kept in the execution's memo, for
listings.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionDescription, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from cadenza.search_attributes import CUSTOMER_ID
from clients.orders import order_handle
from workflows.models import WORKFLOW_ID_PREFIX, Order

ORDER_ID_MEMO = "customer_order_id"
"""Memo entry of an order filed under a scoped id: the id its customer gave it."""

_TAG_HEX = 16  # 64 bits of the digest: distinct per (customer, order id) pair in any realistic number of orders
_MAX_ID = 64  # the longest order id the services and the CLI accept


def scoped_order_id(customer_id: str, order_id: str) -> str:
    """The id an order of `customer_id` is filed under: its own id (cut to fit) and a digest of both."""
    # "/" cannot occur in either id, so the digest's input tells every (customer, order id) pair apart.
    tag = hashlib.sha256(f"{customer_id}/{order_id}".encode()).hexdigest()[:_TAG_HEX]
    return f"{order_id[: _MAX_ID - _TAG_HEX - 1]}_{tag}"


@dataclass(frozen=True)
class OrderAddress:
    """An order as the API names it, and where Temporal files it."""

    order_id: str
    """As the client names it (the path's id)."""
    customer_id: str | None
    filed_as: str
    """The order id Temporal and the services know it by; the workflow id is `order-<filed_as>`."""

    @property
    def scoped(self) -> bool:
        return self.filed_as != self.order_id

    @property
    def workflow_id(self) -> str:
        return f"{WORKFLOW_ID_PREFIX}{self.filed_as}"

    @property
    def path(self) -> str:
        """The order's URL path: a scoped order names its customer, so a key bound to no customer finds it too."""
        return f"/orders/{self.order_id}" + (f"?customer_id={self.customer_id}" if self.scoped else "")

    def as_filed(self, order: Order) -> Order:
        """`order` as it is started: under the id it is filed as (what the workflow, its history and the services
        see)."""
        return order if not self.scoped else order.model_copy(update={"order_id": self.filed_as})

    def start_memo(self) -> dict[str, Any]:
        return {ORDER_ID_MEMO: self.order_id} if self.scoped else {}


def new_address(order: Order, *, bound: bool) -> OrderAddress:
    """Where a new order is filed: scoped when placed with a key bound to its customer, else under its own id."""
    filed_as = scoped_order_id(order.customer_id, order.order_id) if bound else order.order_id
    return OrderAddress(order.order_id, order.customer_id, filed_as)


@dataclass(frozen=True)
class FoundOrder:
    address: OrderAddress
    handle: WorkflowHandle
    description: WorkflowExecutionDescription


def owner_of(execution: WorkflowExecution) -> str | None:
    return execution.typed_search_attributes.get(CUSTOMER_ID)


async def find_order(client: Client, order_id: str, customer_id: str | None) -> FoundOrder | None:
    """The order `order_id` of `customer_id` — filed under the customer's scoped id, or under the plain id with
    `customer_id` as its owner — or, with no customer, whatever is filed under the plain id. None if there is none.

    Both places are asked at once, whether or not the first has it: what the caller waits for does not depend on
    whether someone else's order sits under the plain id."""
    places = [order_id] if customer_id is None else [scoped_order_id(customer_id, order_id), order_id]
    described = await asyncio.gather(*(_describe(client, filed_as) for filed_as in places))
    for filed_as, found in zip(places, described, strict=True):
        if found is None:
            continue
        handle, description = found
        owner = owner_of(description)
        if customer_id is None or owner == customer_id:
            return FoundOrder(OrderAddress(order_id, owner, filed_as), handle, description)
    return None


async def _describe(client: Client, filed_as: str) -> tuple[WorkflowHandle, WorkflowExecutionDescription] | None:
    handle = order_handle(client, filed_as)
    try:
        return handle, await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def listed_address(execution: WorkflowExecution) -> OrderAddress:
    """The address of an order as a listing shows it: the customer's own id (from the memo of a scoped order)."""
    filed_as = execution.id.removeprefix(WORKFLOW_ID_PREFIX)
    own = await execution.memo_value(ORDER_ID_MEMO, None)
    return OrderAddress(own if isinstance(own, str) else filed_as, owner_of(execution), filed_as)
