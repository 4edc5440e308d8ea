"""Reading what a workflow history recorded: the activities it scheduled and the patches it took."""

from __future__ import annotations

import base64
import json

from temporalio.client import WorkflowHistory


def scheduled_activities(history: WorkflowHistory) -> list[str]:
    """The activities the workflow ran, in history order: scheduled on the server, or run locally (the SDK records a
    `core_local_activity` marker each, whose `data` names the activity in plain JSON)."""
    names = []
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            names.append(event.activity_task_scheduled_event_attributes.activity_type.name)
        elif event.marker_recorded_event_attributes.marker_name == "core_local_activity":
            [data] = event.marker_recorded_event_attributes.details["data"].payloads
            names.append(json.loads(data.data)["activity_type"])
    return names


def patch_ids(history: WorkflowHistory) -> list[str]:
    """The ids of the `workflow.patched()` calls that returned True (the SDK records a `core_patch` marker each)."""
    return [
        json.loads(payload.data)["id"]
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == "core_patch"
        for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
    ]


def payload_texts(history_json: str) -> list[str]:
    """The base64-decoded `data` of every payload in a history as `temporal workflow show -o json` prints it: plain
    JSON payloads are base64 there, so a marker in clear would not show up in the raw text."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("data"), str) and isinstance(node.get("metadata"), dict):
                found.append(base64.b64decode(node["data"]).decode("utf-8", "replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history_json))
    return found


def updates_recorded(history: WorkflowHistory) -> list[str]:
    """The names of the updates the execution accepted (a refused update leaves no event at all)."""
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for event in history.events
        if event.HasField("workflow_execution_update_accepted_event_attributes")
    ]
