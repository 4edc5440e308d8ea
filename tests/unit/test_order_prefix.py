"""`--prefix` of `cadenza audit` and `cadenza reconcile run` goes into a visibility query: one that cannot begin an
order id is refused at once (exit 2). It once reached Temporal as a malformed query (audit: exit 1 with Temporal's
SQL error; reconcile run: a run that failed its query attempt after attempt, blamed on the services)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from activities.order_runs import orders_query
from cadenza.errors import InvalidInput
from cadenza.processes import free_port

REPO = Path(__file__).resolve().parents[2]


def test_a_prefix_of_an_order_id_filters_the_query_and_anything_else_is_refused():
    assert orders_query(prefix="load-7f_2").endswith(' AND WorkflowId STARTS_WITH "order-load-7f_2"')
    for prefix in ('x" OR WorkflowType="ReconcileWorkflow', "a b", "ord'", "x" * 65):
        with pytest.raises(InvalidInput, match="cannot begin an order id"):
            orders_query(prefix=prefix)


@pytest.mark.parametrize("command", [["audit"], ["reconcile", "run"]])
def test_the_commands_refuse_such_a_prefix_before_asking_temporal(command):
    env = {name: value for name, value in os.environ.items() if not name.startswith("TEMPORAL_")}
    run = subprocess.run(
        [sys.executable, "-m", "starters.cli", *command, "--prefix", 'x" OR WorkflowId STARTS_WITH "'],
        env={**env, "COLUMNS": "200", "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"},  # nothing there to ask
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "cannot begin an order id" in run.stderr and "Traceback" not in run.stderr
