"""Workflow histories cut at another workflow-task boundary: the same commands, in the same order, completed by two
workflow tasks instead of one.

A worker completes a workflow task whenever the workflow is blocked, and a local activity can resolve between the
moment its marker is recorded and the moment workflow code runs on with its result (a task completed to answer a
query is one such moment): an execution can be recorded with a task boundary between any two of its commands. Code
that replays only the boundaries it happened to see wedges when it meets another cut, so replay is proven over every
cut (tests/replay/test_task_splits.py).
"""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

_E = EventType
# Events that a workflow task's completion writes, one per command or message of the workflow code.
_COMMANDS = frozenset(
    {
        _E.EVENT_TYPE_MARKER_RECORDED,
        _E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        _E.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        _E.EVENT_TYPE_TIMER_STARTED,
        _E.EVENT_TYPE_TIMER_CANCELED,
        _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        _E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        _E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        _E.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        _E.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        _E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)
_PATCH_MARKER = "core_patch"


def cut_points(history: WorkflowHistory) -> list[int]:
    """Every index i such that a workflow task can end after event i: i and i + 1 are commands of the same task.
    Not between a patch marker and the search-attribute upsert the SDK issues with it (one call of workflow code
    makes both), nor between two patches asked back to back, and not between an update's acceptance and what the same
    handler call wrote with it."""
    events, task = history.events, _tasks(history.events)
    points = []
    for index in range(len(events) - 1):
        this, following = events[index], events[index + 1]
        if task[index] is None or task[index] != task[index + 1]:
            continue
        if _is_patch_marker(this) and following.event_type == _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            continue
        upsert = this.event_type == _E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        if upsert and index > 0 and _is_patch_marker(events[index - 1]) and _is_patch_marker(following):
            # Two patches asked one after the other, with nothing awaited between (OrderWorkflow asks decided-at-start
            # and compensated-order-fails together, first thing in its run): no task can end between them.
            continue
        if this.event_type == _E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            continue
        points.append(index)
    return points


def cut_after(history: WorkflowHistory, index: int) -> WorkflowHistory:
    """`history` with its workflow task ended after event `index`: the commands that followed it in the same task move
    to a new task, scheduled, started and completed right there. Event ids, and every reference to one, are
    renumbered."""
    original, task = list(history.events), _tasks(history.events)
    completed_at = task[index]
    assert completed_at is not None, f"event {index} is not a command"
    # The new task's events are copies of the cut task's own three (the nearest of each kind before its completion).
    template = original[: completed_at + 1]
    added = [
        _copy(_last(template, _E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)),
        _copy(_last(template, _E.EVENT_TYPE_WORKFLOW_TASK_STARTED)),
        _copy(original[completed_at]),
    ]
    events = [_copy(e) for e in original[: index + 1]] + added + [_copy(e) for e in original[index + 1 :]]
    new_id = {e.event_id: e.event_id + (3 if position > index else 0) for position, e in enumerate(original)}
    for position, event in enumerate(events):
        if index < position <= index + 3:
            event.event_time.CopyFrom(original[index].event_time)
        else:
            _renumber(event, new_id)
        event.event_id = position + 1
    scheduled, started, completed = added
    started.workflow_task_started_event_attributes.scheduled_event_id = scheduled.event_id
    completed.workflow_task_completed_event_attributes.scheduled_event_id = scheduled.event_id
    completed.workflow_task_completed_event_attributes.started_event_id = started.event_id
    for position in range(index + 1, len(original)):
        if task[position] != completed_at:
            break
        _point_at_task(events[position + 3], completed.event_id)
    return WorkflowHistory(history.workflow_id, events)


def _tasks(events: list[HistoryEvent]) -> list[int | None]:
    """For each event, the index of the workflow-task completion that wrote it (None: not a command)."""
    owner: list[int | None] = []
    current: int | None = None
    for index, event in enumerate(events):
        if event.event_type == _E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            current = index
            owner.append(None)
        elif event.event_type in _COMMANDS and current is not None:
            owner.append(current)
        else:
            current = None
            owner.append(None)
    return owner


def _last(events: list[HistoryEvent], event_type: EventType.ValueType) -> HistoryEvent:
    return next(event for event in reversed(events) if event.event_type == event_type)


def _copy(event: HistoryEvent) -> HistoryEvent:
    copy = HistoryEvent()
    copy.CopyFrom(event)
    return copy


def _attributes(event: HistoryEvent):
    which = event.WhichOneof("attributes")
    return getattr(event, which) if which else None


def _renumber(event: HistoryEvent, new_id: dict[int, int]) -> None:
    """Every `…event_id` field of the event's attributes that names an event, mapped to that event's new id."""
    attributes = _attributes(event)
    if attributes is None:
        return
    for field, value in attributes.ListFields():
        if field.name.endswith("event_id") and isinstance(value, int) and value in new_id:
            setattr(attributes, field.name, new_id[value])


def _point_at_task(event: HistoryEvent, completed_event_id: int) -> None:
    attributes = _attributes(event)
    if attributes is not None and getattr(attributes, "workflow_task_completed_event_id", 0):
        attributes.workflow_task_completed_event_id = completed_event_id


def _is_patch_marker(event: HistoryEvent) -> bool:
    return event.marker_recorded_event_attributes.marker_name == _PATCH_MARKER
