"""Why the risk check sits behind `workflow.patched()`, and how the guard is retired, proven by replay.

Recorded histories: tests/histories/*.json before the check existed; tests/histories/risk-check/*.json with it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.workflow import NondeterminismError

from starters.history_files import history_files, load_history
from starters.replay import new_replayer
from tests.history_helpers import patch_ids, scheduled_activities
from tests.replay.variants import DeprecatedPatchOrderWorkflow, UnguardedOrderWorkflow
from workflows.order import RISK_CHECK_PATCH

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
BEFORE, WITH_CHECK = HISTORIES, HISTORIES / "risk-check"


async def _replay(workflow_class: type, path: Path) -> None:
    await new_replayer(workflows=[workflow_class]).replay_workflow(load_history(path))


def test_large_orders_recorded_before_the_check_lack_its_patch_marker_and_later_ones_carry_it():
    # What `patched()` keys on: replaying a history without the marker takes the old path (no check, no marker).
    before, after = load_history(BEFORE / "large_order.json"), load_history(WITH_CHECK / "large_order.json")
    assert (patch_ids(before), patch_ids(after)) == ([], [RISK_CHECK_PATCH])
    assert "assess_risk" not in scheduled_activities(before)
    assert scheduled_activities(after)[1:3] == ["assess_risk", "charge_payment"]


async def test_the_unguarded_change_cannot_replay_a_large_order_recorded_before_it():
    with pytest.raises(
        NondeterminismError, match="'charge_payment' does not match activity type of activity command 'assess_risk'"
    ):
        await _replay(UnguardedOrderWorkflow, BEFORE / "large_order.json")


async def test_the_unguarded_change_goes_unnoticed_without_a_large_order_history():
    # Small orders never reach the check: a suite without a recorded large order would have let the change through.
    await _replay(UnguardedOrderWorkflow, BEFORE / "happy_path.json")


async def test_dropping_the_guard_outright_also_breaks_orders_recorded_with_it():
    # Their marker has no `patched()` call left to match: retiring a patch goes through `deprecate_patch()`.
    with pytest.raises(NondeterminismError, match=f"patch marker encountered for change {RISK_CHECK_PATCH}"):
        await _replay(UnguardedOrderWorkflow, WITH_CHECK / "large_order.json")


@pytest.mark.parametrize("path", history_files([WITH_CHECK]), ids=lambda path: path.name)
async def test_deprecate_patch_replays_every_order_recorded_with_the_check(path: Path):
    await _replay(DeprecatedPatchOrderWorkflow, path)


async def test_deprecate_patch_is_only_safe_once_orders_from_before_the_check_are_gone():
    with pytest.raises(NondeterminismError):
        await _replay(DeprecatedPatchOrderWorkflow, BEFORE / "large_order.json")
