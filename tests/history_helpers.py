"""Reading what a workflow history recorded: the activities it scheduled and the patches it took."""

from __future__ import annotations

import json

from temporalio.client import WorkflowHistory


def scheduled_activities(history: WorkflowHistory) -> list[str]:
    return [
        event.activity_task_scheduled_event_attributes.activity_type.name
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]


def patch_ids(history: WorkflowHistory) -> list[str]:
    """The ids of the `workflow.patched()` calls that returned True (the SDK records a `core_patch` marker each)."""
    return [
        json.loads(payload.data)["id"]
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == "core_patch"
        for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
    ]
