"""One error model: every exception Cadenza defines derives from `CadenzaError`, and the CLI reports one with its
message, its next step and its exit code, in one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadenza.errors import EXIT_BAD_INPUT, EXIT_PROBLEM, CadenzaError, InvalidInput
from starters.cli import app

# The first-party packages (services/ is a separate program with its own errors; tests/ is not shipped).
PACKAGES = ("cadenza", "workflows", "activities", "clients", "workers", "starters", "api", "codec_server")

NOT_CADENZA_ERRORS = {
    # Temporal ApplicationErrors: raised to the server, whose type and non_retryable flag decide retries and which the
    # sender reads as an update's failure. They travel as Temporal failures, never through a door's handler.
    "cadenza.decisions.DecisionRefused",
    "workers.intake.PlaintextRefused",
}


def first_party_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        modules = [name] + [
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{name}.")
            if not info.name.endswith("__main__")  # running one starts a process
        ]
        for module_name in modules:
            for obj in vars(importlib.import_module(module_name)).values():
                if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__.split(".")[0] in PACKAGES:
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


def test_every_first_party_exception_derives_from_cadenza_error() -> None:
    found = first_party_exceptions()
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, CadenzaError))

    assert outside == sorted(NOT_CADENZA_ERRORS), "derive these from cadenza.errors.CadenzaError (or InvalidInput)"
    assert len(found) > 50  # the walk did reach the packages


def test_an_error_keeps_its_other_bases_and_its_message() -> None:
    from clients.orders import InvalidOrder, OrderNotFound
    from starters.record_histories import HistoriesExist

    assert issubclass(InvalidOrder, ValueError) and issubclass(OrderNotFound, LookupError)
    assert issubclass(HistoriesExist, FileExistsError)
    err = InvalidOrder("order.json is not a valid order")
    assert (str(err), err.exit_code) == ("order.json is not a valid order", EXIT_BAD_INPUT)
    assert OrderNotFound("o-1", "default").exit_code == EXIT_PROBLEM


def test_next_step_and_exit_code_can_be_given_per_raise() -> None:
    err = CadenzaError("the ledger is closed", next_step="Open it first.", exit_code=3)

    assert (err.message, err.next_step, err.exit_code) == ("the ledger is closed", "Open it first.", 3)
    assert err.report() == "the ledger is closed\nOpen it first."
    assert (CadenzaError("x").exit_code, InvalidInput("x").exit_code) == (EXIT_PROBLEM, EXIT_BAD_INPUT)
    assert CadenzaError("no next step").report() == "no next step"


def test_the_cli_reports_an_invalid_order_with_its_next_step_and_exit_code(tmp_path: Path) -> None:
    # InvalidOrder belongs to the clients layer, which names no command: the CLI words its next step.
    order = tmp_path / "order.json"
    order.write_text('{"order_id": "o-1"')  # refused before any connection is made

    result = CliRunner().invoke(app, ["order", "place", str(order)])

    assert result.exit_code == EXIT_BAD_INPUT
    said = " ".join(result.output.split())  # rich wraps long lines
    assert said.startswith(f"error: {order} is not a valid order")
    assert "Nothing was started. Fix the file and place it again." in said


@pytest.mark.parametrize("exit_code", [EXIT_PROBLEM, EXIT_BAD_INPUT, 7])
def test_the_cli_handles_any_cadenza_error_once(monkeypatch: pytest.MonkeyPatch, exit_code: int) -> None:
    def refuse(path: Path) -> None:
        raise CadenzaError(f"cannot use {path}", next_step="Do the next thing.", exit_code=exit_code)

    monkeypatch.setattr("starters.cli.load_order", refuse)

    result = CliRunner().invoke(app, ["order", "place", "some.json"])

    assert result.exit_code == exit_code
    assert result.output.splitlines() == ["error: cannot use some.json", "Do the next thing."]
