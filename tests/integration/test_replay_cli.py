"""`cadenza replay-record` and `cadenza replay` against a real stack, as a user runs them."""

from __future__ import annotations

import re

import pytest

from cadenza.processes import free_port
from starters.record_histories import planned_files
from tests.integration.conftest import Harness
from tests.integration.test_cli import _cadenza, _cadenza_async

pytestmark = pytest.mark.integration


def _replayed(output: str) -> int:
    match = re.search(r"Replayed (\d+) histories", output)
    assert match, output
    return int(match[1])


async def test_record_then_replay_the_files_and_the_server(harness: Harness, tmp_path):
    env = harness.config.client_env()
    recorded = await _cadenza_async(["replay-record", "--out", str(tmp_path)], env)
    assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    assert sorted(tmp_path.glob("*.json")) == sorted(planned_files(tmp_path))

    from_files = await _cadenza_async(["replay", str(tmp_path)], env)
    assert from_files.returncode == 0, from_files.stdout + from_files.stderr
    assert f"{len(planned_files(tmp_path))} ok" in from_files.stdout

    # Open and closed: everything this session ran, including the orders just recorded.
    from_server = await _cadenza_async(["replay"], env)
    assert from_server.returncode == 0, from_server.stdout + from_server.stderr
    assert _replayed(from_server.stdout) >= len(planned_files(tmp_path))

    one = await _cadenza_async(["replay", "--query", 'WorkflowId="order-no-such-order"'], env)
    assert one.returncode == 0 and _replayed(one.stdout) == 0


def test_replay_says_what_to_do_when_temporal_is_unreachable():
    refused = _cadenza(["replay"], {"TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, timeout=60)
    assert refused.returncode == 1
    assert "Cannot reach Temporal" in refused.stderr and "cadenza up" in refused.stderr
