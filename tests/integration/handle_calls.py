"""Counting what a door asks Temporal about an order: the Order API and the clients run in the test's process, so a
`WorkflowHandle` method wrapped here sees every call they make."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from temporalio.client import WorkflowHandle


@contextmanager
def calls_of(method: str) -> Iterator[list[str]]:
    """The workflow ids `WorkflowHandle.<method>` (e.g. "query", "describe") is called for while the block runs."""
    ids: list[str] = []
    original = getattr(WorkflowHandle, method)

    async def counted(handle: WorkflowHandle, *args: Any, **kwargs: Any) -> Any:
        ids.append(handle.id)
        return await original(handle, *args, **kwargs)

    setattr(WorkflowHandle, method, counted)
    try:
        yield ids
    finally:
        setattr(WorkflowHandle, method, original)
