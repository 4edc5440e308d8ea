"""Making sure the namespace knows Cadenza's search attributes before a worker runs a single workflow task: an upsert
of an unknown attribute would fail every order's workflow task until someone registered it."""

from __future__ import annotations

from collections.abc import Mapping

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError

from cadenza.errors import CadenzaError
from workflows.search_attributes import ALL_KEYS


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
