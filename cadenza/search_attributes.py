"""Custom search attributes: what makes orders filterable in the Web UI and in visibility queries
(`OrderStatus="compensated"`, `CustomerId="c-17"`, `OrderTotal > 10000`), and making sure a namespace knows them.

In the kernel because the namespace's setup needs them as much as the workflows do: the embedded dev server registers
them at start (cadenza/stack.py), the worker and the reconcile schedule before they run anything.
"""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError

from cadenza.errors import CadenzaError

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_int("OrderTotal")  # minor units, like every amount in Cadenza
# Set by each reconcile run (workflows/reconcile.py) to what it could not repair: `ReconcileUnrepaired > 0`.
RECONCILE_UNREPAIRED = SearchAttributeKey.for_int("ReconcileUnrepaired")

# A declared saga's run (workflows/declared_saga.py): `SagaName="order" AND SagaStatus="needs_attention"`.
SAGA_NAME = SearchAttributeKey.for_keyword("SagaName")
SAGA_STATUS = SearchAttributeKey.for_keyword("SagaStatus")

ALL_KEYS: tuple[SearchAttributeKey, ...] = (
    ORDER_STATUS,
    CUSTOMER_ID,
    ORDER_TOTAL,
    RECONCILE_UNREPAIRED,
    SAGA_NAME,
    SAGA_STATUS,
)


def initial_search_attributes(customer_id: str, total_amount: int, status: str) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(ORDER_STATUS, status),
            SearchAttributePair(CUSTOMER_ID, customer_id),
            SearchAttributePair(ORDER_TOTAL, total_amount),
        ]
    )


def saga_search_attributes(name: str, status: str) -> TypedSearchAttributes:
    return TypedSearchAttributes([SearchAttributePair(SAGA_NAME, name), SearchAttributePair(SAGA_STATUS, status)])


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register the attributes when the embedded server starts."""
    type_names = {"KEYWORD": "Keyword", "INT": "Int"}
    flags: list[str] = []
    for key in ALL_KEYS:
        flags += [
            "--search-attribute",
            f"{key.name}={type_names[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}",
        ]
    return flags


# Making sure the namespace knows them before a worker runs a single workflow task: an upsert of an unknown attribute
# would fail every order's workflow task until someone registered it.
class SearchAttributesMissing(CadenzaError, RuntimeError):
    pass


async def missing_search_attributes(client: Client) -> dict[str, IndexedValueType.ValueType]:
    """Cadenza's search attributes the client's namespace lacks, with their types."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in ALL_KEYS
        if key.name not in existing.custom_attributes
    }


def create_commands(namespace: str, missing: Mapping[str, IndexedValueType.ValueType]) -> str:
    """The `temporal` commands an admin runs to register `missing` (for a worker that may not, and `cadenza doctor`)."""
    return "; ".join(
        f"temporal operator search-attribute create --namespace {namespace} --name {name} "
        f"--type {IndexedValueType.Name(value).removeprefix('INDEXED_VALUE_TYPE_').capitalize()}"
        for name, value in missing.items()
    )


async def ensure_search_attributes(client: Client) -> list[str]:
    """Register whichever of Cadenza's search attributes the namespace lacks; returns the names it added."""
    missing = await missing_search_attributes(client)
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    except RPCError as err:
        raise SearchAttributesMissing(
            f"Namespace {client.namespace} lacks search attributes {', '.join(missing)} and this worker may not add "
            f"them ({err.message}). Ask an admin to run: {create_commands(client.namespace, missing)}"
        ) from err
    return sorted(missing)
