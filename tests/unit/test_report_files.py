"""A report file that cannot be written is refused before the run (exit 2), not after it: `cadenza load`, `chaos`,
`bench` and `verify` once ran to their end and then lost their report with `error: [Errno 2] No such file ...`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cadenza.processes import free_port

REPO = Path(__file__).resolve().parents[2]


def _newcomer_env() -> dict[str, str]:
    """A plain shell's environment: no CADENZA_* or TEMPORAL_* variable but the addresses, which point at nothing (a
    command that ran anyway fails there, instead of reaching a stack someone else runs on the default ports)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("CADENZA_", "TEMPORAL_"))}
    nothing = f"http://127.0.0.1:{free_port()}"
    return {
        **env,
        "COLUMNS": "200",
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        **{f"CADENZA_{name}_URL": nothing for name in ("ERP", "PAYMENT", "INVENTORY")},
    }


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (["load", "--orders", "1"], "--json"),
        (["bench", "--profile", "direct", "--sequential", "1", "--burst", "1", "--warmup", "0"], "--json"),
        (["bench", "--profile", "direct", "--sequential", "1", "--burst", "1", "--warmup", "0"], "--profile-worker"),
        (["verify", "examples/verify/services.yaml"], "--json"),
        (["chaos", "--orders", "1"], "--json"),
    ],
    ids=["load", "bench", "bench-profile-worker", "verify", "chaos"],
)
@pytest.mark.parametrize("where", ["missing folder", "a folder"])
def test_a_report_file_that_cannot_be_written_is_refused_before_anything_runs(tmp_path, command, option, where):
    target = tmp_path / "missing" / "report.json" if where == "missing folder" else tmp_path
    run = subprocess.run(
        [sys.executable, "-m", "starters.cli", *command, option, str(target)],
        env=_newcomer_env(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"Invalid value for '{option}'" in run.stderr and str(target) in run.stderr
    assert "Traceback" not in run.stderr
