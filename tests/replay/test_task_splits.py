"""Replay holds whatever the workflow-task boundaries of an execution were (tests/replay/task_splits.py).

The histories recorded since `decided-at-start` (workflows/order.py, DECIDED_AT_START_PATCH) replay cut at every point
a task could have ended. Those recorded before it do not, where a patch was asked after a local activity: that is how
an order polled during its first workflow task wedged for good.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

from starters.history_files import history_files, load_history
from starters.replay import new_replayer
from tests.history_helpers import scheduled_activities
from tests.replay.task_splits import cut_after, cut_points

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
# Since compensated-order-fails (COMPENSATED_FAILS_PATCH), asked at the start too, next to decided-at-start; and since
# first-attempts-together (FIRST_ATTEMPTS_TOGETHER_PATCH), asked first and alone; and the declared sagas' runs since
# saga-first-attempts-together (workflows/declared_saga.py), asked first and alone too, and those since replay-unsafe
# steps are sent at most once (AT_MOST_ONCE_PATCH, asked next to the patch before it); and the orders recorded since the
# payment decision answers with the order's progress (payment-answer/, no patch).
DECIDED_AT_START = history_files(
    [
        HISTORIES / "decided-at-start",
        HISTORIES / "compensated-fails",
        HISTORIES / "first-attempts-together",
        HISTORIES / "payment-answer",
        HISTORIES / "declared-sagas-first-attempts-together",
        HISTORIES / "declared-sagas-at-most-once",
    ]
)


@pytest.mark.parametrize("path", DECIDED_AT_START, ids=lambda path: f"{path.parent.name}/{path.stem}")
async def test_every_cut_of_a_history_recorded_since_replays(path: Path):
    history = load_history(path)
    points = cut_points(history)
    assert points, "a history with no command after its first is no proof"
    for point in points:
        await new_replayer().replay_workflow(cut_after(history, point))


async def test_a_large_order_recorded_before_wedges_when_its_first_task_ended_after_its_first_call():
    # The adversarial review's wedge, deterministically: the create-ERP marker in the first task and the risk-check
    # and manual-review patch markers in the second. On replay the local activity resolves inside the first task,
    # where `patched()` finds no marker: the risk check is skipped and its answer is handed to the charge, which
    # cannot decode it (the "validation errors for ChargeRecord" of the wedged orders).
    history = load_history(HISTORIES / "local-first" / "large_order.json")
    [first_call] = [index for index, event in enumerate(history.events) if _names_activity(event, "create_erp_order")]
    assert first_call in cut_points(history)

    result = await new_replayer().replay_workflow(cut_after(history, first_call), raise_on_replay_failure=False)

    assert result.replay_failure is not None and "ValidationError" in str(result.replay_failure)
    await new_replayer().replay_workflow(history)  # as recorded, it replays


def _names_activity(event: HistoryEvent, name: str) -> bool:
    return scheduled_activities(WorkflowHistory("", [event])) == [name]
