"""The template syntax of saga definitions: whole-value substitution keeps JSON types, interpolation renders text."""

from __future__ import annotations

import pytest

from workflows.saga_templates import Reference, TemplateError, references, render

SCOPE = {
    "input": {"order_id": "o-1", "amount": 1250, "lines": [{"sku": "SKU-MUG", "quantity": 2}], "paid": True},
    "steps": {"create": {"result": {"id": "ord_9", "total": None}, "key": "wf/create/run"}},
}


def test_a_whole_string_reference_keeps_the_json_type() -> None:
    template = {"amount": "${input.amount}", "lines": "${input.lines}", "paid": "${input.paid}", "n": 3}
    assert render(template, SCOPE) == {
        "amount": 1250,
        "lines": [{"sku": "SKU-MUG", "quantity": 2}],
        "paid": True,
        "n": 3,
    }


def test_references_inside_text_are_interpolated() -> None:
    assert render("order ${input.order_id}: ${input.amount} (${input.paid})", SCOPE) == "order o-1: 1250 (true)"
    assert render("${steps.create.key}/undo", SCOPE) == "wf/create/run/undo"
    assert render(["${input.lines.0.sku}"], SCOPE) == ["SKU-MUG"]


def test_an_escaped_dollar_is_written_as_is() -> None:
    assert render("cost $${input.amount}", SCOPE) == "cost ${input.amount}"
    assert list(references("cost $${input.amount}")) == []


def test_a_missing_value_names_where_it_was_looked_for() -> None:
    with pytest.raises(TemplateError, match=r"\$\{steps.create.result.number\}: steps.create.result has no 'number'"):
        render("${steps.create.result.number}", SCOPE)


def test_only_text_numbers_and_booleans_interpolate() -> None:
    with pytest.raises(TemplateError, match="is list, not text"):
        render("lines: ${input.lines}", SCOPE)
    with pytest.raises(TemplateError, match="is NoneType, not text"):
        render("total ${steps.create.result.total}", SCOPE)


def test_a_malformed_reference_is_refused() -> None:
    with pytest.raises(TemplateError, match="malformed reference"):
        list(references("${input..x}"))
    with pytest.raises(TemplateError, match="malformed reference"):
        render("${input.a b}", SCOPE)


def test_references_are_listed_with_where_they_sit() -> None:
    found = list(references({"body": {"id": "${steps.create.result.id}", "note": "for ${input.order_id}"}}))
    assert found == [
        (("body", "id"), Reference(("steps", "create", "result", "id"), whole=True)),
        (("body", "note"), Reference(("input", "order_id"), whole=False)),
    ]
