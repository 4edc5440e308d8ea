"""Workflow histories on disk: one execution per JSON file (`WorkflowHistory.to_json()`), as the replay tests and
`cadenza replay FILE|FOLDER` read them and `cadenza replay record` writes them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from temporalio.client import WorkflowHistory

from cadenza.errors import InvalidInput

SUFFIX = ".json"


class HistoryFileError(InvalidInput, ValueError):
    """A path given as a history is missing or is not a workflow history; the message names it."""


def history_files(paths: Iterable[Path]) -> list[Path]:
    """Every history file named, folders expanded to the `*.json` files below them (sorted, so runs are stable)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob(f"*{SUFFIX}"))
        elif path.is_file():
            found.append(path)
        else:
            raise HistoryFileError(f"{path} does not exist; give history files or folders of them")
    return found


def load_history(path: Path) -> WorkflowHistory:
    """Read one history file. The workflow id comes from the history's first event (the file name if absent): the
    JSON that `to_json()` writes does not carry it separately, and `from_json` needs it."""
    try:
        data = json.loads(path.read_text())
        started = data["events"][0].get("workflowExecutionStartedEventAttributes", {})
        return WorkflowHistory.from_json(started.get("workflowId") or path.stem, data)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise HistoryFileError(f"{path} is not a workflow history exported as JSON ({err})") from err


def write_history(path: Path, history: WorkflowHistory) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(history.to_json() + "\n")
