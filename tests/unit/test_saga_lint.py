"""`cadenza saga lint`: one minimal broken definition per rule, each refused with its exact message and line.

Every definition is the clean one of tests/unit/saga_fixtures.py with one edit, over a document the test writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clients.sagas import compile_file
from starters.cli import app
from tests.unit.saga_fixtures import CLEAN, shop_document, write_saga
from workflows.saga_definition import SagaDefinition


def problems(folder: Path, old: str, new: str) -> list[str]:
    assert CLEAN.count(old) == 1, f"the edit must hit exactly one place: {old!r}"
    path = write_saga(folder, CLEAN.replace(old, new))
    return [line.removeprefix(f"{path}:") for line in compile_file(path).lines()]


def test_the_clean_definition_compiles(tmp_path: Path) -> None:
    compilation = compile_file(write_saga(tmp_path, CLEAN))
    assert compilation.problems == []
    assert compilation.summary() == "2 steps, 1 undos: ok"
    definition = compilation.definition
    assert definition is not None
    confirm = definition.step("confirm").call
    assert (confirm.method, confirm.path, confirm.key_header, confirm.service) == (
        "POST",
        "/orders/{order_id}/confirm",
        "Idempotency-Key",
        "shop",
    )
    undo = definition.step("create").undo
    assert undo is not None and undo.needs_result and undo.when_unknown == "fence"
    assert undo.fence is not None and undo.fence.request.body == {"key": "${steps.create.key}"}
    assert definition.content_hash.startswith("sha256:")


def test_unknown_operation_id(tmp_path: Path) -> None:
    assert problems(tmp_path, "call: shop.confirmOrder", "call: shop.confirmOrdr") == [
        "28: step 'confirm': unknown operationId 'confirmOrdr' in API 'shop' "
        "(shop.json has: cancelOrder, confirmOrder, createOrder, fence, listOrders)"
    ]


def test_a_mutating_step_without_undo_is_refused(tmp_path: Path) -> None:
    assert problems(tmp_path, "    covered_by: create\n", "") == [
        "28: step 'confirm': POST /orders/{order_id}/confirm (shop.confirmOrder) changes state but declares no undo, "
        "pivot, irreversible or covered_by: say how it is undone (a saga never leaves it out by omission)"
    ]


def test_a_field_the_input_schema_lacks(tmp_path: Path) -> None:
    assert problems(tmp_path, 'amount: "${input.amount}"', 'amount: "${input.total}"') == [
        "18: step 'create': ${input.total}: the input schema has no field 'total' (fields: order_id, amount)"
    ]


def test_a_field_the_response_schema_lacks(tmp_path: Path) -> None:
    edited = '    request:\n      path: {order_id: "${steps.create.result.number}"}\n    covered_by'
    assert problems(
        tmp_path, '    request:\n      path: {order_id: "${steps.create.result.id}"}\n    covered_by', edited
    ) == [
        "30: step 'confirm': ${steps.create.result.number}: the result of step 'create' (shop.createOrder) has no "
        "field 'number' (fields: id, status, amount)"
    ]


def test_a_missing_required_field(tmp_path: Path) -> None:
    assert problems(tmp_path, '        amount: "${input.amount}"\n', "") == [
        "16: step 'create': request body (CreateOrder) missing required field 'amount'"
    ]


def test_a_field_of_the_wrong_type(tmp_path: Path) -> None:
    assert problems(tmp_path, 'amount: "${input.amount}"', 'amount: "${input.order_id}"') == [
        "18: step 'create': request body (CreateOrder) amount: ${input.order_id} is string, the schema wants integer"
    ]


def test_a_field_the_schema_forbids(tmp_path: Path) -> None:
    edited = '        amount: "${input.amount}"\n        colour: red\n'
    assert problems(tmp_path, '        amount: "${input.amount}"\n', edited) == [
        "19: step 'create': request body (CreateOrder) unknown field 'colour': the schema allows no other fields"
    ]


def test_a_key_header_the_operation_does_not_accept(tmp_path: Path) -> None:
    edited = "    call: shop.confirmOrder\n    key_header: X-Request-Key\n"
    assert problems(tmp_path, "    call: shop.confirmOrder\n", edited) == [
        "29: step 'confirm': shop.confirmOrder takes no 'X-Request-Key' header (its headers: Idempotency-Key): set "
        "key_header to the one that carries its idempotency key"
    ]


def test_a_reference_to_a_later_step(tmp_path: Path) -> None:
    assert problems(tmp_path, 'order_id: "${input.order_id}"', 'order_id: "${steps.confirm.result.id}"') == [
        "17: step 'create': ${steps.confirm.result.id} refers to step 'confirm', which runs later: a step can use "
        "only earlier steps"
    ]


def test_a_step_reading_its_own_result_is_a_cycle(tmp_path: Path) -> None:
    assert problems(tmp_path, 'order_id: "${input.order_id}"', 'order_id: "${steps.create.result.id}"') == [
        "17: step 'create': ${steps.create.result.id}: the step reads its own result, a cycle"
    ]


def test_covered_by_an_undo_that_does_not_fence_the_key(tmp_path: Path) -> None:
    assert problems(tmp_path, '{key: "${steps.confirm.key}"}', '{key: "${steps.create.key}"}') == [
        "31: step 'confirm': covered_by 'create', whose undo does not fence this step's key: add "
        "${steps.confirm.key} to that undo (a `before` call) so a replay of this step is refused"
    ]


def test_fencing_an_api_that_offers_no_fence(tmp_path: Path) -> None:
    assert problems(tmp_path, ", fence: fence}", "}") == [
        "26: step 'create', undo: when_unknown is fence but API 'shop' declares no fence operation (apis.shop.fence): "
        "declare lookup or none instead"
    ]


def test_an_unknown_key_is_refused_with_its_line(tmp_path: Path) -> None:
    assert problems(tmp_path, "    covered_by: create\n", "    covered_by: create\n    colour: blue\n") == [
        "32: steps.1.colour: unknown key (see docs/sagas.md, Declaring a saga)"
    ]


def test_the_openapi_document_is_read(tmp_path: Path) -> None:
    """The same definition, checked against a document whose schema changed: only reading it can tell."""
    document = shop_document()
    document["components"]["schemas"]["CreateOrder"]["properties"]["amount"] = {"type": "string"}
    path = write_saga(tmp_path, CLEAN, document)
    assert [line.removeprefix(f"{path}:") for line in compile_file(path).lines()] == [
        "18: step 'create': request body (CreateOrder) amount: ${input.amount} is integer, the schema wants string"
    ]


def test_lint_exits_0_on_a_clean_definition(tmp_path: Path) -> None:
    path = write_saga(tmp_path, CLEAN)
    result = CliRunner().invoke(app, ["saga", "lint", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{path}: 2 steps, 1 undos: ok"


def test_lint_exits_1_listing_every_problem(tmp_path: Path) -> None:
    broken = CLEAN.replace("call: shop.confirmOrder", "call: shop.confirmOrdr").replace("${input.amount}", "${input.x}")
    path = write_saga(tmp_path, broken)
    result = CliRunner().invoke(app, ["saga", "lint", str(path)])
    assert result.exit_code == 1
    listed = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:")]
    assert [line.split(":")[1] for line in listed] == ["18", "28"]
    assert result.stderr.splitlines()[-1] == f"2 problem(s) in {path}"


@pytest.mark.parametrize("content", [None, "steps: [\n"])
def test_a_missing_or_unparseable_file_exits_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "saga.yaml"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(app, ["saga", "lint", str(path)])
    assert result.exit_code == 2
    assert str(path) in result.stderr


def test_the_compiled_definition_travels_as_json_and_keeps_its_hash(tmp_path: Path) -> None:
    """A run carries its definition through the data converter: decoding must give back the very same definition."""
    definition = compile_file(write_saga(tmp_path, CLEAN)).definition
    assert definition is not None
    decoded = SagaDefinition.model_validate_json(definition.model_dump_json())
    assert decoded == definition and decoded.content_hash == definition.content_hash
    changed = compile_file(write_saga(tmp_path, CLEAN.replace('summary: "order', 'summary: "shop order'))).definition
    assert changed is not None and changed.content_hash != definition.content_hash


LOOKUP_UNDO = """    undo:
      call: shop.cancelOrder
      request:
        path: {order_id: "${steps.create.result.id}"}
      when_unknown: lookup
      lookup:
        call: shop.listOrders
        request: {query: {reference: "${steps.create.key}"}}
        items: orders
        match: {id: "${steps.create.key}"}
  - id: confirm"""


def _with_lookup(old: str = "", new: str = "") -> str:
    start, end = CLEAN.index("    undo:\n"), CLEAN.index("  - id: confirm")
    text = CLEAN[:start] + LOOKUP_UNDO.replace(old, new) + CLEAN[end + len("  - id: confirm") :]
    return text.replace("    covered_by: create\n", "    irreversible: true\n")


def test_an_undo_by_lookup_compiles(tmp_path: Path) -> None:
    definition = compile_file(write_saga(tmp_path, _with_lookup())).definition
    assert definition is not None
    undo = definition.step("create").undo
    assert undo is not None and undo.lookup is not None and undo.fence is None
    assert (undo.lookup.call.operation_id, undo.lookup.items, undo.lookup.match) == (
        "listOrders",
        ("orders",),
        {"id": "${steps.create.key}"},
    )


def test_a_lookup_matching_a_field_its_records_lack(tmp_path: Path) -> None:
    path = write_saga(tmp_path, _with_lookup('match: {id: "', 'match: {ref: "'))
    assert [line.removeprefix(f"{path}:") for line in compile_file(path).lines()] == [
        "28: step 'create', undo, lookup: a record of shop.listOrders has no field 'ref'"
    ]


def test_a_lookup_over_an_answer_without_that_list(tmp_path: Path) -> None:
    path = write_saga(tmp_path, _with_lookup("items: orders", "items: order"))
    assert [line.removeprefix(f"{path}:") for line in compile_file(path).lines()] == [
        "27: step 'create', undo, lookup: shop.listOrders answers no list at its order"
    ]


def test_a_key_given_twice_is_unreadable(tmp_path: Path) -> None:
    path = write_saga(tmp_path, CLEAN.replace("name: shop\n", "name: shop\nname: again\n"))
    result = CliRunner().invoke(app, ["saga", "lint", str(path)])
    assert result.exit_code == 2
    assert f"{path}:2: 'name' is given twice" in " ".join(result.stderr.split())
