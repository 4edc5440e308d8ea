"""The recorded runs of the declared example sagas (tests/histories/declared-sagas/, `cadenza replay-record --sagas`):
every way a run ends is there, encrypted, and shows what its name says. test_recorded_histories.py replays them."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from cadenza.failure_types import SAGA_COMPENSATED
from starters.history_files import load_history
from starters.record_saga_histories import saga_history_files
from tests.history_helpers import patch_ids, scheduled_activities

DECLARED = Path(__file__).resolve().parents[1] / "histories" / "declared-sagas"
# Recorded since compensated runs end Failed (workflows/declared_saga.py, COMPENSATED_FAILS_PATCH).
COMPENSATED_FAILS = DECLARED.with_name("declared-sagas-compensated-fails")
# Recorded since a run's first attempts are made together (workflows/declared_saga.py, FIRST_ATTEMPTS_TOGETHER_PATCH).
TOGETHER = DECLARED.with_name("declared-sagas-first-attempts-together")


def _events(name: str, folder: Path = DECLARED) -> list[str]:
    return [EventType.Name(event.event_type) for event in load_history(folder / f"{name}.json").events]


def test_every_saga_scenario_has_an_encrypted_history_of_the_generic_workflow():
    files = saga_history_files(DECLARED) + saga_history_files(COMPENSATED_FAILS) + saga_history_files(TOGETHER)
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
