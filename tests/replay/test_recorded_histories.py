"""Every recorded history (tests/histories/) replays against the current workflow code, run exactly as the worker runs
it. A change that fails here would leave executions like these stuck on a worker: guard it with `workflow.patched()`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.connection import DATA_CONVERTER
from cadenza.telemetry import temporal_plugins
from starters.history_files import history_files, load_history
from starters.record_histories import planned_files
from starters.replay import new_replayer
from workers.worker import WORKFLOWS, workflow_runner

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
RECORDED = history_files([HISTORIES])


def test_every_scenario_has_a_recorded_history():
    # Recorded before the risk check existed (the top folder), with it (risk-check/), and with keys per execution and
    # fencing compensations (keys-per-execution/): every kind of execution may be open when a new version deploys.
    for folder in (HISTORIES, HISTORIES / "risk-check", HISTORIES / "keys-per-execution"):
        assert [path for path in planned_files(folder) if not path.exists()] == []


def test_the_replayer_runs_workflows_as_the_worker_does():
    replayer = new_replayer()
    config = replayer.config()
    assert list(config["workflows"]) == WORKFLOWS
    assert config["data_converter"] is DATA_CONVERTER
    assert type(config["workflow_runner"]) is type(workflow_runner())
    # Sandbox restrictions only exist on a sandboxed runner (workers.worker.workflow_runner says which one runs).
    assert getattr(config["workflow_runner"], "restrictions", None) == getattr(workflow_runner(), "restrictions", None)
    # A worker gets its plugins from its client (cadenza.connection.connect): the same list.
    assert [type(plugin) for plugin in replayer.plugins] == [type(plugin) for plugin in temporal_plugins()]


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: str(path.relative_to(HISTORIES)))
async def test_recorded_history_replays_with_the_current_code(path: Path):
    # Raises NondeterminismError (failing the test) if the code would issue other commands than the history holds.
    await new_replayer().replay_workflow(load_history(path))
