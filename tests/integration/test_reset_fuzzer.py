"""Every reset point of every kind of order leaves a true state (starters/adversary): an operator may pick any
completed workflow task of a finished order in the Web UI; the reset run must end completed with the order fulfilled
at every service, or compensated with nothing live."""

from __future__ import annotations

import pytest

from starters.adversary.resets import ResetFuzzer
from starters.adversary.scenarios import ScenarioPlayer

pytestmark = pytest.mark.integration


async def test_every_reset_point_of_every_scenario_leaves_the_services_agreeing_with_the_order(harness, no_faults):
    played = await ScenarioPlayer(harness.client, harness.faults, harness.records, harness.task_queue).play_all()

    report = await ResetFuzzer(harness.client, harness.records).fuzz(list(played.values()))

    assert len(report.trials) >= 2 * len(played)  # every order has a reset point, most several
    assert [(t.workflow_id, t.event_id, t.ended, t.problems) for t in report.problems] == []
    ended = {trial.ended for trial in report.trials}
    assert {"completed", "compensated", "cancelled"} & ended
    assert "completed" in ended and "compensated" in ended
