"""The shipped saga definitions (examples/sagas/) lint clean against the services' OpenAPI documents, and their
sample inputs make requests those documents accept."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from clients.sagas import compile_file
from workflows.saga_definition import SagaDefinition
from workflows.saga_templates import references, render

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sagas"
TRAVEL_APIS = ("flight", "hotel", "car")

# The operationIds the order saga names. Used only where examples/sagas/openapi/ does not hold a service's exported
# document yet: the document is then taken from the app, with these ids on the operations that lack one.
ORDER_OPERATIONS = {
    "erp": {
        ("post", "/orders"): "createOrder",
        ("post", "/orders/{order_id}/confirm"): "confirmOrder",
        ("post", "/fences"): "fence",
    },
    "payment": {("post", "/charges"): "createCharge", ("post", "/fences"): "fence"},
    "inventory": {
        ("post", "/reservations"): "createReservation",
        ("post", "/reservations/{reservation_id}/commit"): "commitReservation",
        ("post", "/fences"): "fence",
    },
}


def _document(name: str, tmp_path: Path) -> dict[str, Any]:
    exported = EXAMPLES / "openapi" / f"{name}.json"
    if exported.exists():
        loaded: dict[str, Any] = json.loads(exported.read_text())
        return loaded
    app = importlib.import_module(f"services.{name}").create_app(tmp_path / f"{name}.db", "token")
    document: dict[str, Any] = app.openapi()
    for (method, route), operation_id in ORDER_OPERATIONS[name].items():
        operation = document["paths"][route][method]
        if operation.get("operationId", "").endswith(f"_{method}"):  # FastAPI's generated id: none was given
            operation["operationId"] = operation_id
    return document


@pytest.fixture
def order_saga(tmp_path: Path) -> Path:
    (tmp_path / "openapi").mkdir()
    for name in ORDER_OPERATIONS:
        (tmp_path / "openapi" / f"{name}.json").write_text(json.dumps(_document(name, tmp_path)))
    return Path(shutil.copy(EXAMPLES / "order.yaml", tmp_path / "order.yaml"))


@pytest.fixture
def travel_saga() -> Path:
    missing = [name for name in TRAVEL_APIS if not (EXAMPLES / "openapi" / f"{name}.json").exists()]
    if missing:
        pytest.skip(f"the travel services' exported OpenAPI documents are not in examples/sagas/openapi/: {missing}")
    return EXAMPLES / "travel.yaml"


def test_the_order_saga_lints_clean(order_saga: Path) -> None:
    compilation = compile_file(order_saga)
    assert compilation.lines() == []
    assert compilation.summary() == "5 steps, 3 undos: ok"


def test_the_order_saga_fences_like_order_workflow(order_saga: Path) -> None:
    """workflows/order.py's _UNDO: each undo fences the later calls' keys first, then its step's own key."""
    definition = compile_file(order_saga).definition
    assert definition is not None
    fenced = {}
    for step in definition.steps:
        if step.undo is not None:
            calls = [*step.undo.before, step.undo.call]
            assert {call.operation_id for call in calls} == {"fence"}
            fenced[step.id] = [call.request.body for call in calls]
    assert fenced == {
        "create_order": [{"key": "${steps.confirm_order.key}"}, {"key": "${steps.create_order.key}"}],
        "charge": [{"key": "${steps.charge.key}"}],
        "reserve": [{"key": "${steps.commit_stock.key}"}, {"key": "${steps.reserve.key}"}],
    }
    assert [step.covered_by for step in definition.steps] == [None, None, None, "create_order", "reserve"]


def test_the_travel_saga_lints_clean(travel_saga: Path) -> None:
    compilation = compile_file(travel_saga)
    assert compilation.lines() == []
    assert compilation.summary() == "4 steps, 3 undos: ok"
    definition = compilation.definition
    assert definition is not None
    flight = definition.step("book_flight")
    assert flight.call.key_header == "X-Request-Key"
    assert flight.undo is not None and flight.undo.fence is not None
    assert definition.step("book_hotel").undo.call.method == "DELETE"  # type: ignore[union-attr]
    car = definition.step("rent_car").undo
    assert car is not None and car.when_unknown == "lookup" and car.fence is None
    assert definition.step("ticket").pivot


@pytest.mark.parametrize("saga", ["order_saga", "travel_saga"])
def test_the_sample_input_fits_the_input_schema_and_the_first_requests(saga: str, request: Any) -> None:
    path: Path = request.getfixturevalue(saga)
    definition = compile_file(path).definition
    assert definition is not None
    sample = json.loads((EXAMPLES / f"{path.stem}.input.json").read_text())
    Draft202012Validator(definition.input_schema).validate(sample)
    # The steps that need nothing but the input (and keys) are rendered for real and validated in full.
    checked = 0
    for step in definition.steps:
        template = step.call.request.body
        if template is None or any(
            ref.path[:1] == ("steps",) and "result" in ref.path for _, ref in references(template)
        ):
            continue
        keys = {other.id: {"key": f"{other.id}-key"} for other in definition.steps}
        body = render(template, {"input": sample, "steps": keys})
        _body_validator(path, definition, step.call.api, step.call.operation_id).validate(body)
        checked += 1
    assert checked >= 3


def _body_validator(path: Path, definition: SagaDefinition, api: str, operation_id: str) -> Draft202012Validator:
    document = json.loads((path.parent / "openapi" / f"{api}.json").read_text())
    for item in document["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                schema = operation["requestBody"]["content"]["application/json"]["schema"]
                return Draft202012Validator({**schema, "components": document["components"]})
    raise AssertionError(f"{operation_id} is not in {api}.json")


def test_the_order_saga_sample_is_another_order_than_the_order_example() -> None:
    """A newcomer places examples/order.json (README), then runs the order saga on its sample (docs/sagas.md): with
    the same order id the saga met the first order at the ERP (409 order_exists) and ended compensated."""
    placed = json.loads((EXAMPLES.parent / "order.json").read_text())["order_id"]
    assert json.loads((EXAMPLES / "order.input.json").read_text())["order_id"] != placed
