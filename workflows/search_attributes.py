"""Custom search attributes: what makes orders filterable in the Web UI and in visibility queries
(`OrderStatus="compensated"`, `CustomerId="c-17"`, `OrderTotal > 10000`)."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_int("OrderTotal")  # minor units, like every amount in Cadenza
# Set by each reconcile run (workflows/reconcile.py) to what it could not repair: `ReconcileUnrepaired > 0`.
RECONCILE_UNREPAIRED = SearchAttributeKey.for_int("ReconcileUnrepaired")

ALL_KEYS: tuple[SearchAttributeKey, ...] = (ORDER_STATUS, CUSTOMER_ID, ORDER_TOTAL, RECONCILE_UNREPAIRED)


def initial_search_attributes(customer_id: str, total_amount: int, status: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(ORDER_STATUS, status),
            SearchAttributePair(CUSTOMER_ID, customer_id),
            SearchAttributePair(ORDER_TOTAL, total_amount),
        ]
    )


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register the attributes when the embedded server starts."""
    type_names = {"KEYWORD": "Keyword", "INT": "Int"}
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={type_names[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}"]
    return flags
