"""The sagas a door serves: every definition file (`*.yaml`) in one folder (CADENZA_SAGAS_DIR), compiled and linted
together. A folder with any problem is refused whole, each problem on its own line as `cadenza saga lint` prints it: a
door that started with some of its sagas missing would answer 404 for a saga its operators think they deployed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cadenza.errors import EXIT_BAD_INPUT
from cadenza.settings import settings
from clients.sagas import InvalidDefinition, UnreadableDefinition, compile_file
from workflows.saga_definition import SagaDefinition

SHIPPED = Path(__file__).resolve().parents[2] / "examples" / "sagas"
"""The examples beside the code: what the API serves unless CADENZA_SAGAS_DIR names another folder."""

_log = logging.getLogger("cadenza.sagas")


def served_sagas() -> dict[str, SagaDefinition]:
    """The sagas a door serves: CADENZA_SAGAS_DIR's (refused whole if it has any problem), else the shipped examples —
    none where they were not installed, so an API installed without them still serves orders."""
    folder = settings().sagas_dir
    if folder is not None:
        return load_folder(folder)
    if not SHIPPED.is_dir():
        _log.warning("no saga definitions: %s is not there and CADENZA_SAGAS_DIR is not set", SHIPPED)
        return {}
    return load_folder(SHIPPED)


def load_folder(folder: Path) -> dict[str, SagaDefinition]:
    """Each definition in `folder` by its name. Raises `InvalidDefinition` (exit 2) listing every problem: a missing
    or empty folder, a definition with lint problems, two files declaring one name."""
    if not folder.is_dir():
        raise _refused(f"{folder}: no such folder of saga definitions (CADENZA_SAGAS_DIR)")
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise _refused(f"{folder}: holds no saga definition (*.yaml) (CADENZA_SAGAS_DIR)")
    definitions: dict[str, SagaDefinition] = {}
    where: dict[str, Path] = {}
    problems: list[str] = []
    for path in files:
        try:
            compilation = compile_file(path)
        except UnreadableDefinition as err:
            problems.append(str(err))
            continue
        if compilation.definition is None:
            problems += compilation.lines()
            continue
        name = compilation.definition.name
        if name in definitions:
            problems.append(f"{path}:1: saga {name!r} is already declared by {where[name]}")
            continue
        definitions[name], where[name] = compilation.definition, path
    if problems:
        raise _refused("\n".join(problems))
    return definitions


def _refused(message: str) -> InvalidDefinition:
    # Exit 2 as for any bad input: the process was started with a folder it cannot serve.
    return InvalidDefinition(message, exit_code=EXIT_BAD_INPUT)
