"""Where an order's cost goes, read from what the server recorded: the events of a few finished orders' histories
(workflow tasks, activity tasks, local activities, search-attribute upserts) and `describe()`'s count of state
transitions — the unit of work the server persists. These counts, not the timings, say what a change asked of the
server: an order at 6 workflow tasks and 5 activity tasks costs the server about twice one at 2 and 0."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import MarkerRecordedEventAttributes
from temporalio.client import Client
from temporalio.converter import DataConverter

from starters.bench.floor import CALLS as FLOOR_CALLS
from workflows.activity_types import BATCHES
from workflows.first_attempts import FirstAttemptsDone

# The SDK records a local activity's outcome as a marker of this name in the workflow task that ran it.
LOCAL_ACTIVITY_MARKER = "core_local_activity"


@dataclass(frozen=True)
class OrderAnatomy:
    """Per order, averaged over the orders inspected."""

    orders: int
    state_transitions: float
    workflow_tasks: float
    """Workflow tasks completed (each: a poll, an activation, a reply persisted by the server)."""
    activity_tasks: float
    """Activities scheduled through the server (each: scheduled, started, completed — and a workflow task to act on
    the result)."""
    local_activities: float
    """Activities run inside a workflow task (a marker each, nothing scheduled)."""
    calls: float
    """Calls made: each activity task, each local activity, and each call of a batch of first attempts (one local
    activity making several calls, workflows/first_attempts.py)."""
    upserts: float
    """Search-attribute upserts."""
    events: float

    def to_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


async def _count(converter: DataConverter, events: Sequence[object]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for event in events:
        kind = event.event_type  # type: ignore[attr-defined]
        counts["events"] += 1
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            counts["workflow_tasks"] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            counts["activity_tasks"] += 1
            counts["calls"] += 1
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            counts["upserts"] += 1
        elif (
            kind == EventType.EVENT_TYPE_MARKER_RECORDED
            and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER  # type: ignore[attr-defined]
        ):
            counts["local_activities"] += 1
            counts["calls"] += await _calls_in(converter, event.marker_recorded_event_attributes)  # type: ignore[attr-defined]
    return counts


async def _calls_in(converter: DataConverter, marker: MarkerRecordedEventAttributes) -> int:
    """1 for a local activity; for a batch of first attempts (an order's or a declared saga's), the calls its result
    records (decoded with the client's converter: the codec's keys are the client's); for the floor's one local
    activity, the calls whose statuses it returns."""
    if "data" not in marker.details or "result" not in marker.details:
        return 1  # a failed local activity records no result: one call, whatever it was
    [data] = marker.details["data"].payloads
    activity_type = json.loads(data.data).get("activity_type")
    if activity_type == FLOOR_CALLS:
        [statuses] = await converter.decode(marker.details["result"].payloads, [list[int]])
        return len(statuses)
    if activity_type not in BATCHES:
        return 1
    [done] = await converter.decode(marker.details["result"].payloads, [FirstAttemptsDone])
    return len(done.outcomes)


async def _one(client: Client, workflow_id: str) -> Counter[str]:
    handle = client.get_workflow_handle(workflow_id)
    history, description = await asyncio.gather(handle.fetch_history(), handle.describe())
    counts = await _count(client.data_converter, history.events)
    counts["state_transitions"] = description.raw_description.workflow_execution_info.state_transition_count
    return counts


async def inspect_orders(client: Client, workflow_ids: Sequence[str]) -> OrderAnatomy:
    """The average anatomy of the (closed) executions `workflow_ids`."""
    totals: Counter[str] = Counter()
    for counts in await asyncio.gather(*(_one(client, workflow_id) for workflow_id in workflow_ids)):
        totals.update(counts)
    n = max(len(workflow_ids), 1)
    return OrderAnatomy(
        orders=len(workflow_ids),
        **{field: totals[field] / n for field in OrderAnatomy.__dataclass_fields__ if field != "orders"},
    )
