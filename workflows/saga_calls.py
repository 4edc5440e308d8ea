"""Turning a declared call into the request the generic activity sends: pure and deterministic (workflow code).

The scope every template of a run sees: `input` (the run's input) and `steps.<id>.key` for every step (known before
it runs: keys are made, not answered) and `steps.<id>.result` for each step that completed (or, in an undo by lookup,
the record the lookup found). Projections add `response`, lookups `item`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from workflows.saga_definition import Call, Lookup
from workflows.saga_run_models import OperationCall
from workflows.saga_templates import TemplateError, render, resolve


def scope_of(run_input: Mapping[str, Any], keys: Mapping[str, str], results: Mapping[str, Any]) -> dict[str, Any]:
    """The templates' scope of a run: its input, every step's key, the results of the steps that completed."""
    steps = {step: {"key": key, **({"result": results[step]} if step in results else {})} for step, key in keys.items()}
    return {"input": run_input, "steps": steps}


def with_result(scope: Mapping[str, Any], step: str, result: Any) -> dict[str, Any]:
    """`scope` with `step`'s result set (an undo by lookup runs with the record found as the step's result)."""
    steps = dict(scope["steps"])
    steps[step] = {**steps.get(step, {}), "result": result}
    return {**scope, "steps": steps}


def rendered(call: Call, scope: Mapping[str, Any], key: str | None) -> OperationCall:
    """`call` with its templates rendered over `scope`; `key` goes in its key header (a read has none)."""
    path = call.path
    for name, value in _mapping(render(call.request.path, scope), "path").items():
        path = path.replace("{" + name + "}", quote(_text(value), safe=""))
    return OperationCall(
        service=call.service,
        operation=call.operation_id,
        method=call.method,
        path=path,
        query={name: _text(value) for name, value in _mapping(render(call.request.query, scope), "query").items()},
        headers={
            name: _text(value) for name, value in _mapping(render(call.request.headers, scope), "headers").items()
        },
        body=render(call.request.body, scope),
        key_header=call.key_header,
        key=key if call.key_header else None,
        outcomes=call.outcomes,
    )


def projected(template: Any, scope: Mapping[str, Any], body: Any) -> Any:
    """A step's result: its declared projection over the answer's body (`response`), or the whole body."""
    return body if template is None else render(template, {**scope, "response": body})


def found(lookup: Lookup, body: Any, scope: Mapping[str, Any]) -> Any | None:
    """The first record of a lookup's answer whose `match` fields equal their rendered templates, None if none does."""
    records = resolve(lookup.items, body) if lookup.items else body
    if not isinstance(records, list):
        raise TemplateError(f"the lookup's records at {'.'.join(lookup.items) or 'the body'} are not a list")
    wanted = {field: render(template, scope) for field, template in lookup.match.items()}
    for item in records:
        if isinstance(item, Mapping) and all(item.get(field) == value for field, value in wanted.items()):
            return item
    return None


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"the request's {what} parameters rendered to {type(value).__name__}, not a mapping")
    return value


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise TemplateError(f"a path, query or header parameter rendered to {type(value).__name__}, not text")
