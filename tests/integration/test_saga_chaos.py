"""The declared example sagas under chaos, scaled down: errors, stalls and slow commits at every service, workers
SIGKILLed mid-run; every run of the order and the travel saga still ends completed with every step's record live, or
compensated with nothing live — by the services' own records (activities/saga_audit.py)."""

from __future__ import annotations

import json

import pytest

from clients.sagas import load_definition
from starters.saga_chaos import SagaChaosPlan, run_saga_chaos
from tests.unit.test_saga_examples import EXAMPLES

pytestmark = pytest.mark.integration


async def test_every_declared_saga_run_ends_completed_or_with_nothing_live(tmp_path):
    sagas = [
        (load_definition(EXAMPLES / f"{name}.yaml"), json.loads((EXAMPLES / f"{name}.input.json").read_text()))
        for name in ("order", "travel")
    ]
    plan = SagaChaosPlan(runs=6, concurrency=6, failing_share=0.3, workers=2, kill_every_s=3.0, max_kills=1, seed=4)
    events: list[str] = []
    report = await run_saga_chaos(plan, sagas, tmp_path, log=events.append)

    assert report.worker_kills == 1, events
    assert report.audit is not None and report.audit.runs == 12
    assert report.audit.problems == [], report.audit.problems
    assert set(report.audit.outcomes) == {"completed", "compensated"}, report.audit.outcomes
    assert len([line for line in events if " closed: " in line]) == 12  # each run reported as it closed
