"""`cadenza replay` on files: what it counts, what it reports for a history the code cannot replay, its process pool,
and its exit codes. (Against a server: tests/integration/test_replay_cli.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import starters.replay as replay_module
from cadenza.codec import KEYS_ENV, KEYS_FILE_ENV
from starters.history_files import history_files
from starters.replay import BadReplayInput, default_query, histories_from_files, parse_since, replay

REPO = Path(__file__).resolve().parents[2]
HISTORIES = REPO / "tests" / "histories"


def _broken_history(tmp_path: Path) -> tuple[Path, str, int]:
    """happy_path.json with its charge renamed: no version of the code can replay it. (path, workflow id, event id)"""
    data = json.loads((HISTORIES / "happy_path.json").read_text())
    workflow_id = data["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    for event in data["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled and scheduled["activityType"]["name"] == "charge_payment":
            scheduled["activityType"]["name"] = "charge_card"
            break
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))
    return path, workflow_id, int(event["eventId"])


async def _replay(paths: list[Path], workers: int = 1):
    source = histories_from_files(paths)
    return source.total, await replay(source.items, total=source.total, workers=workers)


async def test_a_history_the_code_cannot_replay_is_reported_with_its_workflow_and_event(tmp_path):
    broken, workflow_id, event_id = _broken_history(tmp_path)
    total, report = await _replay([HISTORIES, broken])
    assert report.replayed == total and report.rate > 0
    [failure] = report.failures
    assert (failure.workflow_id, failure.event_id) == (workflow_id, event_id)
    assert failure.error.startswith("[TMPRL1100] Nondeterminism error: Activity type of scheduled event 'charge_card'")


async def test_an_unreadable_file_is_reported_not_fatal(tmp_path):
    (tmp_path / "empty.json").write_text("{}")
    _, report = await _replay([tmp_path])
    assert report.replayed == 1 and "empty.json is not a workflow history" in report.failures[0].error


async def test_a_process_pool_replays_what_one_process_does(tmp_path, monkeypatch):
    monkeypatch.setattr(replay_module, "POOL_THRESHOLD", 10)  # a pool even for a few histories: a quick test
    for path in history_files([HISTORIES]):
        shutil.copy(path, tmp_path / f"{path.parent.name}-{path.name}")
    _, workflow_id, _ = _broken_history(tmp_path)
    total, report = await _replay([tmp_path], workers=2)
    assert report.processes == 2 and report.replayed == total > 10
    assert [failure.workflow_id for failure in report.failures] == [workflow_id]


def test_the_default_query_takes_every_open_order_and_closed_ones_started_within_since():
    now = datetime(2026, 1, 8, 12, 0, tzinfo=UTC)
    assert default_query(parse_since("7d"), now) == (
        'WorkflowType="OrderWorkflow" AND (StartTime > "2026-01-01T12:00:00Z" OR ExecutionStatus="Running")'
    )
    assert parse_since("90m") == timedelta(minutes=90)
    with pytest.raises(BadReplayInput, match="30m, 12h, 7d"):
        parse_since("a week")


def _cadenza_replay(*args: str, cwd: Path = REPO, keys: bool = True) -> subprocess.CompletedProcess[str]:
    """`keys=False`: a plain shell's environment, without the test-only keys the committed histories need."""
    env = {name: value for name, value in os.environ.items() if keys or name not in (KEYS_ENV, KEYS_FILE_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "starters.cli", "replay", *args],
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_cli_exits_0_when_every_history_replays():
    replayed = _cadenza_replay("tests/histories")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert f"{len(list(HISTORIES.rglob('*.json')))} ok" in replayed.stdout and "histories/s" in replayed.stdout


def test_cli_exits_1_naming_each_history_it_cannot_replay(tmp_path):
    broken, workflow_id, event_id = _broken_history(tmp_path)
    failed = _cadenza_replay(str(broken), "tests/histories/happy_path.json")
    assert failed.returncode == 1
    assert workflow_id in failed.stdout and f" {event_id} " in failed.stdout and "charge_card" in failed.stdout
    assert "1 of 2 histories cannot be replayed" in failed.stderr


def test_cli_refuses_a_file_that_is_not_a_history_with_exit_2_without_blaming_the_code(tmp_path):
    """It once said the code cannot replay it and to guard a change with workflow.patched() (exit 1)."""
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "malformed.json").write_text("{bad")
    refused = _cadenza_replay(str(tmp_path), "tests/histories/happy_path.json")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "2 of the files given are not a workflow history" in refused.stderr
    assert "workflow.patched" not in refused.stderr and "Traceback" not in refused.stderr


def test_cli_names_both_a_history_it_cannot_replay_and_a_file_that_is_none(tmp_path):
    _broken_history(tmp_path)
    (tmp_path / "empty.json").write_text("{}")
    failed = _cadenza_replay(str(tmp_path))
    assert failed.returncode == 1
    assert "1 of 2 histories cannot be replayed" in failed.stderr
    assert "1 of the files given is not a workflow history" in failed.stderr


def test_cli_says_a_history_it_has_no_key_for_was_not_replayed_without_blaming_the_code(tmp_path):
    """The committed histories replayed in a plain shell (docs/change-safety.md): it once called each encrypted one a
    history this code cannot replay, and advised workflow.patched()."""
    encrypted = REPO / "tests" / "histories" / "encrypted"
    failed = _cadenza_replay(str(encrypted), cwd=tmp_path, keys=False)  # no .cadenza there: no key at all
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"{len(history_files([encrypted]))} of the histories are encrypted with a key" in failed.stderr
    assert "CADENZA_ENCRYPTION_KEYS_FILE=tests/test-only-encryption-keys" in failed.stderr
    assert "cannot be replayed by this code" not in failed.stderr and "workflow.patched" not in failed.stderr


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_cli_refuses_fewer_than_one_replay_process_with_exit_2(workers):
    refused = _cadenza_replay("tests/histories/happy_path.json", "-j", workers)
    assert refused.returncode == 2 and "Invalid value for '--workers'" in refused.stderr


def test_cli_refuses_a_path_that_does_not_exist_with_exit_2():
    refused = _cadenza_replay("tests/no-such-folder")
    assert refused.returncode == 2 and "tests/no-such-folder does not exist" in refused.stderr
