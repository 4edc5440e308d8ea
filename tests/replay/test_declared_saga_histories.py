"""The recorded runs of the declared example sagas (tests/histories/declared-sagas/, `cadenza replay-record --sagas`):
every way a run ends is there, encrypted, and shows what its name says. test_recorded_histories.py replays them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType

from cadenza.failure_types import OUTCOME_UNKNOWN, SAGA_COMPENSATED
from starters.history_files import load_history
from starters.record_saga_histories import SCENARIOS_BEFORE_AT_MOST_ONCE, saga_history_files
from tests.history_helpers import patch_ids, scheduled_activities
from workflows.declared_saga import AT_MOST_ONCE_PATCH

DECLARED = Path(__file__).resolve().parents[1] / "histories" / "declared-sagas"
# Recorded since compensated runs end Failed (workflows/declared_saga.py, COMPENSATED_FAILS_PATCH).
COMPENSATED_FAILS = DECLARED.with_name("declared-sagas-compensated-fails")
# Recorded since a run's first attempts are made together (workflows/declared_saga.py, FIRST_ATTEMPTS_TOGETHER_PATCH);
# its replay-unsafe scenarios since, in the same runs, such a step is also sent at most once (both patches asked).
TOGETHER = DECLARED.with_name("declared-sagas-first-attempts-together")
# Recorded since replay-unsafe steps are sent at most once (AT_MOST_ONCE_PATCH), with the scenarios of such a step.
AT_MOST_ONCE = DECLARED.with_name("declared-sagas-at-most-once")


def _events(name: str, folder: Path = DECLARED) -> list[str]:
    return [EventType.Name(event.event_type) for event in load_history(folder / f"{name}.json").events]


def test_every_saga_scenario_has_an_encrypted_history_of_the_generic_workflow():
    files = (
        saga_history_files(DECLARED, SCENARIOS_BEFORE_AT_MOST_ONCE)
        + saga_history_files(COMPENSATED_FAILS, SCENARIOS_BEFORE_AT_MOST_ONCE)
        + saga_history_files(TOGETHER)
        + saga_history_files(AT_MOST_ONCE)
    )
    assert [path for path in files if not path.exists()] == []
    for path in files:
        started = load_history(path).events[0].workflow_execution_started_event_attributes
        assert started.workflow_type.name == "DeclaredSagaWorkflow", path.name
        # The definition rides in the input: encrypted with the committed test-only key, like the orders' histories.
        assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted", path.name


def test_the_cancelled_runs_were_cancelled_and_compensated_before_they_closed():
    for name in ("order_cancelled_mid_run", "order_unknown_outcome_fenced"):
        events = _events(name)
        assert "EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED" in events, name
        assert events[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED", name
        # Undos run as server-managed activities after the cancel arrived.
        cancel = events.index("EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED")
        assert "EVENT_TYPE_ACTIVITY_TASK_COMPLETED" in events[cancel:], name


def test_before_the_patch_the_completed_and_compensated_runs_closed_as_completed_executions():
    for name in ("order_completed", "order_declined_card", "travel_completed", "travel_rental_refused"):
        assert _events(name)[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", name


@pytest.mark.parametrize("folder", [COMPENSATED_FAILS, TOGETHER], ids=lambda folder: folder.name)
def test_since_the_patch_a_compensated_run_fails_carrying_its_progress_and_the_others_end_as_before(folder: Path):
    # First attempts together implies the patch: its runs end as the patch says, with one patch marker.
    for name in ("order_declined_card", "travel_rental_refused"):
        failed = load_history(folder / f"{name}.json").events[-1]
        assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, name
        info = failed.workflow_execution_failed_event_attributes.failure.application_failure_info
        assert (info.type, info.non_retryable, len(info.details.payloads)) == (SAGA_COMPENSATED, True, 1), name
    for name in ("order_completed", "travel_completed", "travel_pivot_then_rental_retried"):
        assert _events(name, folder)[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", name
    for name in ("order_cancelled_mid_run", "order_unknown_outcome_fenced"):
        assert _events(name, folder)[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED", name


def test_the_step_after_the_pivot_failed_and_was_retried_by_the_server():
    history = load_history(DECLARED / "travel_pivot_then_rental_retried.json")
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) > 1  # the rental's server-managed activity went through retries before it succeeded
    assert _events("travel_pivot_then_rental_retried")[-1] == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"


def test_since_first_attempts_together_a_happy_run_is_one_local_activity_and_one_patch_marker():
    # What their replay proves: a happy order saga is 9 events (13 before: five local attempts, one marker each), one
    # workflow task, the batch's marker and the patch's; a failed or cancelled run's undos are server activities as
    # before; a step after the pivot is never in the batch.
    for name in ("order_completed", "travel_completed"):
        events = _events(name, TOGETHER)
        assert events.count("EVENT_TYPE_WORKFLOW_TASK_COMPLETED") == 1, name
        assert events.count("EVENT_TYPE_MARKER_RECORDED") == 1 + 1, name
        assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in events, name
        history = load_history(TOGETHER / f"{name}.json")
        assert scheduled_activities(history) == ["saga_first_attempts"], name
        assert patch_ids(history) == ["saga-first-attempts-together"], name
    assert len(_events("order_completed", TOGETHER)) == 9
    assert len(_events("order_completed", COMPENSATED_FAILS)) == 13
    for name in ("order_declined_card", "travel_rental_refused", "order_cancelled_mid_run"):
        activities = scheduled_activities(load_history(TOGETHER / f"{name}.json"))
        assert activities[0] == "saga_first_attempts" and set(activities[1:]) == {"undo_operation"}, name
    pivot = scheduled_activities(load_history(TOGETHER / "travel_pivot_then_rental_retried.json"))
    assert pivot == ["saga_first_attempts", "complete_operation"]
    # A run with a replay-unsafe charge second: one step before it (its own local attempt: a batch of one is no
    # cheaper), then the charge as an activity of its own, never retried by the server (its one attempt timed out when
    # its worker was killed); both patches asked at the start.
    killed = load_history(TOGETHER / "order_unsafe_charge_worker_killed.json")
    assert patch_ids(killed) == ["saga-first-attempts-together", AT_MOST_ONCE_PATCH]
    assert scheduled_activities(killed)[:2] == ["call_operation", "call_operation"]
    assert any(event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT for event in killed.events)


def _history(name: str) -> list[Any]:
    return list(load_history(AT_MOST_ONCE / f"{name}.json").events)


def _of_type(events: list[Any], kind: EventType.ValueType) -> list[Any]:
    return [event for event in events if event.event_type == kind]


def test_only_runs_with_a_replay_unsafe_step_ask_the_at_most_once_patch():
    for name in SCENARIOS_BEFORE_AT_MOST_ONCE:
        assert AT_MOST_ONCE_PATCH not in str(_history(name)), name
    for name in ("order_unsafe_charge_retried", "order_unsafe_charge_unknown", "order_unsafe_charge_worker_killed"):
        events = _history(name)
        marker = next(index for index, event in enumerate(events) if AT_MOST_ONCE_PATCH in str(event))
        # Asked in the first workflow task, before anything else was done (workflows/order.py, DECIDED_AT_START_PATCH).
        first_task = [index for index, event in enumerate(events) if event.event_type in _TASK_OR_CALL][:2]
        assert events[first_task[0]].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, name
        assert first_task[0] < marker < first_task[1], name


_TASK_OR_CALL = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_TIMER_STARTED,
)


def test_the_unsafe_charge_failing_cleanly_was_retried_by_the_workflow_one_attempt_per_activity():
    events = _history("order_unsafe_charge_retried")
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    charges = [
        event.activity_task_scheduled_event_attributes
        for event in _of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        if event.activity_task_scheduled_event_attributes.retry_policy.maximum_attempts == 1
    ]
    assert len(charges) == 3  # two 503s, then the charge: three activities of one attempt each
    assert len(_of_type(events, EventType.EVENT_TYPE_TIMER_STARTED)) == 2  # the step's backoff between them
    assert {
        e.activity_task_started_event_attributes.attempt
        for e in _of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    } == {1}


def test_the_unsafe_charge_whose_worker_was_killed_timed_out_once_and_was_compensated():
    events = _history("order_unsafe_charge_worker_killed")
    assert len(_of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)) == 1
    started = _of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    assert {event.activity_task_started_event_attributes.attempt for event in started} == {1}  # never sent again
    failed = events[-1]
    assert failed.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    assert failed.workflow_execution_failed_event_attributes.failure.application_failure_info.type == SAGA_COMPENSATED


def test_the_unsafe_charge_that_stalled_ended_with_its_outcome_unknown():
    events = _history("order_unsafe_charge_unknown")
    [charge] = _of_type(events, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    info = charge.activity_task_failed_event_attributes.failure.application_failure_info
    assert (info.type, info.non_retryable) == (OUTCOME_UNKNOWN, True)
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
