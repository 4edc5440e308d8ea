"""Every recorded history (tests/histories/) replays against the current workflow code, run exactly as the worker runs
it. A change that fails here would leave executions like these stuck on a worker: guard it with `workflow.patched()`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType

from cadenza import codec
from cadenza.codec import KeyRing
from cadenza.connection import data_converter
from cadenza.failure_types import ORDER_COMPENSATED
from cadenza.telemetry import temporal_plugins
from starters.history_files import history_files, load_history
from starters.record_histories import SCENARIOS_BEFORE_PAYMENT_DECIDED, SCENARIOS_BEFORE_REVIEW, planned_files
from starters.replay import new_replayer
from tests.conftest import TEST_KEYS_FILE
from tests.history_helpers import scheduled_activities
from workers.intake import PlaintextIntake
from workers.worker import WORKFLOWS, workflow_runner
from workflows.models import PaymentAnswer, PaymentOutcome

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
ENCRYPTED = HISTORIES / "encrypted"
MANUAL_REVIEW = HISTORIES / "manual-review"
LOCAL_FIRST = HISTORIES / "local-first"
DECIDED_AT_START = HISTORIES / "decided-at-start"
COMPENSATED_FAILS = HISTORIES / "compensated-fails"
TOGETHER = HISTORIES / "first-attempts-together"
PAYMENT_ANSWER = HISTORIES / "payment-answer"
RECORDED = history_files([HISTORIES])
BEFORE_ENCRYPTION = sorted(HISTORIES.glob("*.json"))


def test_every_scenario_has_a_recorded_history():
    # Recorded before the risk check existed (the top folder), with it (risk-check/), and with keys per execution and
    # fencing compensations (keys-per-execution/), and with encrypted payloads and customer contacts (encrypted/, under
    # the committed test-only key), and with manual review (manual-review/, encrypted too), and with local first
    # attempts (local-first/, encrypted too), and with every patch decided at the start (decided-at-start/, encrypted
    # too), and with compensated orders ending Failed (compensated-fails/, encrypted too), and with a happy order's
    # first attempts made together (first-attempts-together/, encrypted too, with an order placed with its payment
    # decision recorded later), and with the payment decision answering with the order's progress (payment-answer/):
    # every kind of execution may be open when a new version deploys.
    for folder in (HISTORIES, HISTORIES / "risk-check", HISTORIES / "keys-per-execution", ENCRYPTED):
        assert [path for path in planned_files(folder, SCENARIOS_BEFORE_REVIEW) if not path.exists()] == []
    for folder in (MANUAL_REVIEW, LOCAL_FIRST, DECIDED_AT_START, COMPENSATED_FAILS, TOGETHER):
        assert [path for path in planned_files(folder, SCENARIOS_BEFORE_PAYMENT_DECIDED) if not path.exists()] == []
    assert [path for path in planned_files(PAYMENT_ANSWER) if not path.exists()] == []
    assert (TOGETHER / "payment_decided.json").exists()


async def _payment_answer(folder: Path) -> PaymentAnswer:
    """What the `payment_decision` update answered in the folder's recorded payment decision."""
    history = load_history(folder / "payment_decided.json")
    kind = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
    [completed] = [event for event in history.events if event.event_type == kind]
    outcome = completed.workflow_execution_update_completed_event_attributes.outcome.success
    [answer] = await data_converter().decode(outcome.payloads, [PaymentAnswer])
    return answer


async def test_the_payment_decision_answers_with_the_orders_progress_since_payment_answer():
    # What the two recordings prove on replay: an execution whose update answered with the decision alone (before)
    # and one whose answer carries the order's progress at the decision (since) both replay with the current code.
    before, since = await _payment_answer(TOGETHER), await _payment_answer(PAYMENT_ANSWER)
    assert before.outcome == since.outcome == PaymentOutcome.CHARGED
    assert before.progress is None
    assert since.progress is not None and since.progress.payment == since.decision
    assert [step.value for step in since.progress.completed_steps] == ["create_erp_order", "charge_payment"]


def test_the_local_first_histories_ran_their_calls_inside_the_workflow_task():
    # What their replay proves: a happy order is one workflow task whose five calls are local activity markers; a
    # call that failed its local attempt went on as a server-managed activity.
    def kinds(name: str) -> list[str]:
        return [EventType.Name(event.event_type) for event in load_history(LOCAL_FIRST / f"{name}.json").events]

    happy = kinds("happy_path")
    assert happy.count("EVENT_TYPE_WORKFLOW_TASK_COMPLETED") == 1
    assert happy.count("EVENT_TYPE_MARKER_RECORDED") == 1 + 5  # one patch marker, five local attempts
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in happy
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" in kinds("payment_503_twice_then_ok")


def test_the_histories_since_first_attempts_together_made_a_happy_orders_calls_in_one_local_activity():
    # What their replay proves: a happy order is one workflow task with one patch marker and one local activity (its
    # five calls); a risk-checked order calls one by one; a call that failed in the batch went on to the server.
    def kinds(name: str) -> list[str]:
        return [EventType.Name(event.event_type) for event in load_history(TOGETHER / f"{name}.json").events]

    happy = kinds("happy_path")
    assert len(happy) == 9 and happy.count("EVENT_TYPE_WORKFLOW_TASK_COMPLETED") == 1
    assert happy.count("EVENT_TYPE_MARKER_RECORDED") == 1 + 1  # one patch marker, one batch of first attempts
    assert "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED" not in happy
    assert scheduled_activities(load_history(TOGETHER / "happy_path.json")) == ["first_attempts"]
    assert scheduled_activities(load_history(TOGETHER / "payment_503_twice_then_ok.json"))[:2] == [
        "first_attempts",
        "charge_payment",
    ]
    assert "first_attempts" not in scheduled_activities(load_history(TOGETHER / "large_order.json"))


def test_compensated_orders_recorded_since_the_patch_end_failed_with_their_result():
    # What their replay proves: a compensated order's execution fails (OrderCompensated, its result in the details);
    # a completed one completes, a cancelled one is cancelled, as before.
    def last(name: str) -> str:
        return EventType.Name(load_history(COMPENSATED_FAILS / f"{name}.json").events[-1].event_type)

    for name in ("declined_card", "out_of_stock", "needs_attention", "review_rejected", "review_expired"):
        assert last(name) == "EVENT_TYPE_WORKFLOW_EXECUTION_FAILED", name
        failed = load_history(COMPENSATED_FAILS / f"{name}.json").events[-1]
        failure = failed.workflow_execution_failed_event_attributes.failure
        assert failure.application_failure_info.type == ORDER_COMPENSATED
        assert failure.application_failure_info.non_retryable
        assert failure.application_failure_info.details.payloads, "the OrderResult travels in the details"
    for name in ("happy_path", "large_order", "review_approved", "payment_503_twice_then_ok"):
        assert last(name) == "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED", name
    for name in ("cancelled", "review_cancelled"):
        assert last(name) == "EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED", name


def test_the_replayer_runs_workflows_as_the_worker_does():
    replayer = new_replayer()
    config = replayer.config()
    assert list(config["workflows"]) == WORKFLOWS
    assert config["data_converter"] is data_converter()
    assert type(config["workflow_runner"]) is type(workflow_runner())
    # Sandbox restrictions only exist on a sandboxed runner (workers.worker.workflow_runner says which one runs).
    assert getattr(config["workflow_runner"], "restrictions", None) == getattr(workflow_runner(), "restrictions", None)
    # A worker gets its plugins from its client (cadenza.connection.connect): the same list.
    assert [type(plugin) for plugin in replayer.plugins] == [type(plugin) for plugin in temporal_plugins()]
    # A start a worker refused for its unencrypted input replays as refused (workers/intake.py).
    assert [type(interceptor) for interceptor in config["interceptors"]] == [PlaintextIntake]


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: str(path.relative_to(HISTORIES)))
async def test_recorded_history_replays_with_the_current_code(path: Path):
    # Raises NondeterminismError (failing the test) if the code would issue other commands than the history holds.
    await new_replayer().replay_workflow(load_history(path))


@pytest.mark.parametrize("path", BEFORE_ENCRYPTION, ids=lambda path: path.name)
async def test_a_history_from_before_encryption_replays_where_encryption_is_required(path: Path, monkeypatch):
    # A worker that refuses unencrypted starts, updates and signals still rebuilds the orders accepted before: the
    # refusal is taken where a request arrives, never where a recorded one replays.
    monkeypatch.setenv("CADENZA_ENCRYPTION", "required")
    await new_replayer().replay_workflow(load_history(path))


def test_encrypted_histories_are_encrypted_and_plain_ones_are_not():
    # What the replay of each folder below proves depends on it: decrypting with the test key, or passing through.
    def encodings(path: Path) -> set[bytes]:
        return {
            event.workflow_execution_started_event_attributes.input.payloads[0].metadata["encoding"]
            for event in load_history(path).events[:1]
        }

    assert {encoding for path in history_files([ENCRYPTED]) for encoding in encodings(path)} == {b"binary/encrypted"}
    assert encodings(HISTORIES / "happy_path.json") == {b"json/plain"}


@pytest.mark.parametrize("keys", ["none", "another key"])
async def test_an_encrypted_history_without_its_key_fails_naming_the_key_id(keys: str):
    ring = None if keys == "none" else KeyRing.parse(KeyRing.generate_line("other"), source="test")
    replayer = new_replayer(converter=codec.data_converter(ring, namespace="default"))
    result = await replayer.replay_workflow(load_history(ENCRYPTED / "happy_path.json"), raise_on_replay_failure=False)
    assert "'test-only-1'" in str(result.replay_failure)
    assert "CADENZA_ENCRYPTION_KEYS" in str(result.replay_failure)


def test_the_encrypted_histories_need_the_committed_test_key():
    assert KeyRing.from_file(TEST_KEYS_FILE).active_id == "test-only-1"  # type: ignore[union-attr]
