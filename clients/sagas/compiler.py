"""Compile a saga declaration against its OpenAPI documents: a `SagaDefinition`, or every problem found.

Every check of `cadenza saga lint` happens here, once, so linting and running cannot disagree on what a definition
means. Problems are collected, not raised: a team fixes them all in one pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from clients.sagas.declaration import CallDeclaration, SagaDeclaration, StepDeclaration, UndoDeclaration
from clients.sagas.openapi import OpenApiDocument, Operation
from clients.sagas.positions import Location
from clients.sagas.request_check import build_instance, violations
from clients.sagas.schemas import ANYTHING, Schema, placeholder
from workflows.saga_definition import (
    DEFAULT_KEY_HEADER,
    DEFAULT_OUTCOMES,
    MUTATING_METHODS,
    Call,
    Lookup,
    Outcomes,
    Request,
    SagaDefinition,
    Step,
    Undo,
)
from workflows.saga_templates import Reference, TemplateError, references

_STATUS_CODES = frozenset(f"{kind}xx" for kind in "12345")


@dataclass(frozen=True, order=True)
class Problem:
    line: int
    message: str


@dataclass(frozen=True)
class _Scope:
    """Where templates are read: by which step (None: the run's id and summary), in its undo or not."""

    label: str
    step: int | None
    undo: bool = False
    roots: dict[str, Schema] = field(default_factory=dict)
    own_result: Schema | None = None  # the undo of a lookup reads the record found as the step's result


@dataclass(frozen=True)
class _Resolved:
    api: str
    document: OpenApiDocument
    operation: Operation


class Compiler:
    def __init__(self, declaration: SagaDeclaration, base: Path, line: Callable[[Location], int]) -> None:
        self._declaration = declaration
        self._base = base
        self._line = line
        self.problems: list[Problem] = []
        self._documents: dict[str, OpenApiDocument] = {}
        self._index = {step.id: number for number, step in enumerate(declaration.steps)}
        self._results: dict[str, Schema | None] = {}
        self._input = Schema(dict(declaration.input), dict(declaration.input))
        self._profile_cache: dict[str, dict[str, Any]] = {}

    def report(self, where: Location, message: str) -> None:
        problem = Problem(self._line(where), message)
        if problem not in self.problems:
            self.problems.append(problem)

    def compile(self) -> SagaDefinition | None:
        declaration = self._declaration
        self._read_documents()
        try:
            Draft202012Validator.check_schema(declaration.input)
        except SchemaError as err:
            self.report(("input", *err.absolute_path), f"input: not a JSON Schema: {err.message}")
        seen: set[str] = set()
        for number, step in enumerate(declaration.steps):
            if step.id in seen:
                self.report(("steps", number, "id"), f"step {step.id!r}: another step has this id")
            seen.add(step.id)
        run_scope = _Scope(label="the run's id and summary", step=None)
        self._check_template(declaration.id, ("id",), run_scope)
        self._check_template(declaration.summary, ("summary",), run_scope)
        steps = [self._step(number, step) for number, step in enumerate(declaration.steps)]
        self._check_pivots()
        if self.problems or any(step is None for step in steps):
            return None
        return SagaDefinition(
            name=declaration.name,
            input_schema=declaration.input,
            id=declaration.id,
            summary=declaration.summary,
            steps=tuple(step for step in steps if step is not None),
        )

    # ---- documents and operations ---------------------------------------------------------------------------

    def _read_documents(self) -> None:
        for name, api in self._declaration.apis.items():
            path = (self._base / api.openapi).resolve()
            try:
                document = OpenApiDocument.read(path)
            except (OSError, ValueError) as err:
                self.report(("apis", name, "openapi"), f"API {name!r}: cannot read {api.openapi}: {err}")
                continue
            self._documents[name] = document
            if api.fence is not None and api.fence not in document.operations:
                self.report(("apis", name, "fence"), self._unknown_operation(name, api.fence, document))

    def _resolve(self, call: str, where: Location, label: str) -> _Resolved | None:
        api, _, operation_id = call.partition(".")
        if not operation_id:
            self.report(where, f"{label}: call {call!r} is not <api>.<operationId>")
            return None
        if api not in self._declaration.apis:
            known = ", ".join(sorted(self._declaration.apis))
            self.report(where, f"{label}: unknown API {api!r} in call {call!r} (declared: {known})")
            return None
        document = self._documents.get(api)
        if document is None:
            return None  # its document could not be read: reported once, under apis
        operation = document.operations.get(operation_id)
        if operation is None:
            self.report(where, f"{label}: {self._unknown_operation(api, operation_id, document)}")
            return None
        return _Resolved(api, document, operation)

    def _unknown_operation(self, api: str, operation_id: str, document: OpenApiDocument) -> str:
        known = ", ".join(sorted(document.operations)) or "none"
        return f"unknown operationId {operation_id!r} in API {api!r} ({document.path.name} has: {known})"

    # ---- steps ----------------------------------------------------------------------------------------------

    def _step(self, number: int, step: StepDeclaration) -> Step | None:
        where: Location = ("steps", number)
        label = f"step {step.id!r}"
        scope = _Scope(label=label, step=number)
        outcomes = self._outcomes(step, where, label)
        call = self._call(step, where, scope, outcomes)
        resolved = self._resolve(step.call, (*where, "call"), label) if call is not None else None
        response = resolved.operation.response if resolved else None
        result_schema = self._result_schema(step, where, scope, response)
        self._results[step.id] = result_schema
        declared = [
            name
            for name, given in (
                ("undo", step.undo is not None),
                ("pivot", step.pivot),
                ("irreversible", step.irreversible),
                ("covered_by", step.covered_by is not None),
            )
            if given
        ]
        if len(declared) > 1:
            self.report(where, f"{label}: declares {' and '.join(declared)}: declare exactly one")
        if call is not None and call.mutating and not declared:
            self.report(
                (*where, "call"),
                f"{label}: {call.method} {call.path} ({step.call}) changes state but declares no undo, pivot, "
                "irreversible or covered_by: say how it is undone (a saga never leaves it out by omission)",
            )
        undo = self._undo(number, step, step.undo, call, result_schema) if step.undo is not None else None
        if step.covered_by is not None:
            self._check_cover(number, step)
        if call is None or (step.undo is not None and undo is None):
            return None
        replay_unsafe = self._replay_unsafe(number, step, undo)
        return Step(
            id=step.id,
            call=call,
            result=step.result,
            undo=undo,
            pivot=step.pivot,
            irreversible=step.irreversible,
            covered_by=step.covered_by,
            replay_unsafe=replay_unsafe,
        )

    def _replay_unsafe(self, number: int, step: StepDeclaration, undo: Undo | None) -> bool:
        """The step's idempotency profile: its own `idempotency`, else its API's `profile` (a `cadenza verify` report);
        unsafe needs an undo that can find what an ambiguous call did (`when_unknown: lookup` or `fence`)."""
        where: Location = ("steps", number)
        api_name, _, operation_id = step.call.partition(".")
        api = self._declaration.apis.get(api_name)
        entry = self._profiles(api_name).get(api.service, {}).get(operation_id) if api is not None else None
        profile = entry if isinstance(entry, dict) else {}
        if step.idempotency is not None:
            unsafe = step.idempotency.replay == "unsafe"
        else:
            unsafe = profile.get("replay") == "unsafe"
        exempt = step.pivot or step.irreversible or step.covered_by is not None  # nothing, or another step, undoes it
        if undo is not None and undo.when_unknown == "fence" and profile.get("fence") == "broken":
            self.report(
                where,
                f"step {step.id!r}: its API's fence does not hold for {step.call} (idempotency profile): an undo with "
                "`when_unknown: fence` would undo nothing or let a late request through; declare "
                "`when_unknown: lookup`",
            )
        elif unsafe and (undo is None or undo.when_unknown == "none") and not exempt:
            self.report(
                where,
                f"step {step.id!r}: its API does not replay {step.call} safely (idempotency profile), so an ambiguous "
                "failure is not retried and the saga compensates not knowing whether it acted: declare an undo with "
                "`when_unknown: lookup` (or `fence`, where the API's fence holds)",
            )
        return unsafe

    def _profiles(self, api_name: str) -> dict[str, Any]:
        """The `profiles` of the `cadenza verify --json` report an API names (read once; a problem if unreadable)."""
        cached = self._profile_cache.get(api_name)
        if cached is not None:
            return cached
        api = self._declaration.apis.get(api_name)
        profiles: dict[str, Any] = {}
        if api is not None and api.profile is not None:
            path = (self._base / api.profile).resolve()
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
                profiles = report["profiles"] if isinstance(report.get("profiles"), dict) else {}
            except (OSError, ValueError, KeyError, AttributeError) as err:
                self.report(
                    ("apis", api_name, "profile"),
                    f"api {api_name!r}: profile {api.profile} is not a `cadenza verify --json` report ({err})",
                )
        self._profile_cache[api_name] = profiles
        return profiles

    def _outcomes(self, step: StepDeclaration, where: Location, label: str) -> Outcomes:
        table = dict(DEFAULT_OUTCOMES)
        for status, outcome in step.outcomes.items():
            valid = status in _STATUS_CODES or (len(status) == 3 and status.isdigit() and status[0] in "12345")
            if not valid:
                self.report((*where, "outcomes", status), f"{label}: outcome status {status!r} is not 404 or 4xx")
            table[status] = outcome
        return Outcomes(table=table)

    def _result_schema(
        self, step: StepDeclaration, where: Location, scope: _Scope, response: Schema | None
    ) -> Schema | None:
        if step.result is None:
            return response
        projection = _Scope(label=f"{scope.label}, result", step=scope.step, roots={"response": response or _FREE})
        properties: dict[str, Any] = {}
        root: dict[str, Any] = response.root if response else {}
        for name, template in step.result.items():
            self._check_template(template, (*where, "result", name), projection)
            properties[name] = {}
            for _, ref in references(template):
                if ref.whole and ref.path[0] == "response" and response is not None:
                    found = self._walk(response, ref.path[1:])
                    properties[name] = found.node if found is not None else {}
        return Schema(root, {"type": "object", "properties": properties})

    def _call(
        self, declared: CallDeclaration, where: Location, scope: _Scope, outcomes: Outcomes | None = None
    ) -> Call | None:
        resolved = self._resolve(declared.call, (*where, "call"), scope.label)
        if resolved is None:
            # Its templates are still read, so that one pass names every problem.
            self._check_template(declared.request.model_dump(), (*where, "request"), scope)
            return None
        operation = resolved.operation
        request = declared.request
        self._check_parameters(request.path, "path", operation, where, scope)
        self._check_parameters(request.query, "query", operation, where, scope)
        self._check_parameters(request.headers, "header", operation, where, scope)
        self._check_body(request.body, operation, where, scope)
        key_header = None
        if operation.method in MUTATING_METHODS:
            key_header = declared.key_header
            if operation.parameter("header", key_header) is None:
                headers = ", ".join(operation.named("header")) or "none"
                at = (*where, "key_header") if key_header != DEFAULT_KEY_HEADER else (*where, "call")
                self.report(
                    at,
                    f"{scope.label}: {declared.call} takes no {key_header!r} header (its headers: {headers}): "
                    "set key_header to the one that carries its idempotency key",
                )
        return Call(
            api=resolved.api,
            service=self._declaration.apis[resolved.api].service,
            operation_id=operation.operation_id,
            method=operation.method,
            path=operation.path,
            key_header=key_header,
            request=request,
            outcomes=outcomes or Outcomes(),
        )

    def _check_parameters(
        self, given: dict[str, Any], location: str, operation: Operation, where: Location, scope: _Scope
    ) -> None:
        section = "headers" if location == "header" else location
        for name, template in given.items():
            at = (*where, "request", section, name)
            self._check_template(template, at, scope)
            parameter = operation.parameter(location, name)
            if parameter is None:
                offered = ", ".join(operation.named(location)) or "none"
                self.report(
                    at, f"{scope.label}: {operation.operation_id} has no {location} parameter {name!r} ({offered})"
                )
                continue
            for _, message in violations(parameter.schema, build_instance(template, self._placeholder(scope))):
                self.report(at, f"{scope.label}: {location} parameter {name!r}: {message}")
        for parameter in operation.parameters:
            if parameter.location == location and parameter.required and parameter.name not in given:
                if location == "header" and parameter.name.lower() == DEFAULT_KEY_HEADER.lower():
                    continue
                self.report(
                    (*where, "request"),
                    f"{scope.label}: {operation.operation_id} needs {location} parameter {parameter.name!r}",
                )

    def _check_body(self, body: Any, operation: Operation, where: Location, scope: _Scope) -> None:
        at: Location = (*where, "request", "body")
        self._check_template(body, at, scope)
        if operation.body is None:
            if body is not None:
                self.report(at, f"{scope.label}: {operation.operation_id} takes no request body")
            return
        if body is None:
            if operation.body_required:
                self.report((*where, "request"), f"{scope.label}: {operation.operation_id} needs a request body")
            return
        instance = build_instance(body, self._placeholder(scope))
        title = operation.body.title()
        for path, message in violations(operation.body, instance):
            self.report((*at, *path), f"{scope.label}: request body ({title}) {message}")

    # ---- undo -------------------------------------------------------------------------------------------------

    def _undo(
        self,
        number: int,
        step: StepDeclaration,
        declared: UndoDeclaration,
        forward: Call | None,
        result: Schema | None,
    ) -> Undo | None:
        where: Location = ("steps", number, "undo")
        scope = _Scope(label=f"step {step.id!r}, undo", step=number, undo=True)
        before = [self._call(call, (*where, "before", index), scope) for index, call in enumerate(declared.before)]
        call = self._call(declared, where, scope)
        own_result = ("steps", step.id, "result")
        templates = [item.request.model_dump() for item in (*declared.before, declared)]
        needs_result = any(ref.path[:3] == own_result for template in templates for _, ref in references(template))
        fence = None
        lookup = None
        if declared.lookup is not None and declared.when_unknown != "lookup":
            self.report(
                (*where, "lookup"),
                f"{scope.label}: declares a lookup but when_unknown is {declared.when_unknown}: say lookup or drop it",
            )
        if declared.when_unknown == "fence" and needs_result and forward is not None:
            fence = self._fence_of(step, forward, (*where, "when_unknown"), scope)
        if declared.when_unknown == "lookup":
            if declared.lookup is None:
                self.report(
                    (*where, "when_unknown"), f"{scope.label}: when_unknown is lookup but no lookup is declared"
                )
            else:
                lookup = self._lookup(number, step, declared, scope)
        if call is None or any(item is None for item in before):
            return None
        if (declared.when_unknown == "fence" and needs_result and fence is None) or (
            declared.when_unknown == "lookup" and lookup is None
        ):
            return None
        return Undo(
            before=tuple(item for item in before if item is not None),
            call=call,
            when_unknown=declared.when_unknown,
            needs_result=needs_result,
            fence=fence,
            lookup=lookup,
        )

    def _fence_of(self, step: StepDeclaration, forward: Call, where: Location, scope: _Scope) -> Call | None:
        api = self._declaration.apis[forward.api]
        if api.fence is None:
            self.report(
                where,
                f"{scope.label}: when_unknown is fence but API {forward.api!r} declares no fence operation "
                f"(apis.{forward.api}.fence): declare lookup or none instead",
            )
            return None
        document = self._documents.get(forward.api)
        operation = document.operations.get(api.fence) if document else None
        if operation is None:
            return None  # reported under apis
        # The fence carries a key of its own like every mutating call, in the header the API uses for keys.
        headers = [forward.key_header or DEFAULT_KEY_HEADER, DEFAULT_KEY_HEADER]
        key_header = next((header for header in headers if operation.parameter("header", header)), None)
        return Call(
            api=forward.api,
            service=api.service,
            operation_id=operation.operation_id,
            method=operation.method,
            path=operation.path,
            key_header=key_header,
            request=Request(body={"key": f"${{steps.{step.id}.key}}"}),
        )

    def _lookup(self, number: int, step: StepDeclaration, declared: UndoDeclaration, scope: _Scope) -> Lookup | None:
        assert declared.lookup is not None
        where: Location = ("steps", number, "undo", "lookup")
        lookup_scope = _Scope(label=f"{scope.label}, lookup", step=number, undo=True)
        call = self._call(declared.lookup, where, lookup_scope)
        resolved = self._resolve(declared.lookup.call, (*where, "call"), lookup_scope.label) if call else None
        items = tuple(part for part in declared.lookup.items.split(".") if part)
        item: Schema | None = None
        if resolved is not None and resolved.operation.response is not None:
            listed = self._walk(resolved.operation.response, items)
            if listed is None or "array" not in listed.types():
                place = f"its {'.'.join(items)}" if items else "its body"
                self.report(
                    (*where, "items"), f"{lookup_scope.label}: {declared.lookup.call} answers no list at {place}"
                )
            else:
                item = listed.field("0")
        record = item or _FREE
        match_scope = _Scope(label=lookup_scope.label, step=number, undo=True, roots={"item": record})
        for name, template in declared.lookup.match.items():
            self._check_template(template, (*where, "match", name), match_scope)
            if item is not None and item.field(name) is None:
                self.report(
                    (*where, "match", name),
                    f"{lookup_scope.label}: a record of {declared.lookup.call} has no field {name!r}",
                )
        if item is not None:
            # The undo runs on the record found as if it were the step's result: what it reads must be there too.
            found = _Scope(label=f"{scope.label} (of the record found)", step=number, undo=True, own_result=item)
            for index, before in enumerate(declared.before):
                self._check_template(before.request.model_dump(), ("steps", number, "undo", "before", index), found)
            self._check_template(declared.request.model_dump(), ("steps", number, "undo", "request"), found)
        if call is None:
            return None
        return Lookup(call=call, items=items, match=declared.lookup.match)

    def _check_cover(self, number: int, step: StepDeclaration) -> None:
        where: Location = ("steps", number, "covered_by")
        label = f"step {step.id!r}"
        cover = step.covered_by
        index = self._index.get(cover or "")
        if cover is None or index is None:
            self.report(where, f"{label}: covered_by names no step {cover!r}")
            return
        if index >= number:
            self.report(where, f"{label}: covered_by names step {cover!r}, which does not run before it")
            return
        covering = self._declaration.steps[index]
        if covering.undo is None:
            self.report(where, f"{label}: covered_by names step {cover!r}, which declares no undo")
            return
        templates = [item.request.model_dump() for item in (*covering.undo.before, covering.undo)]
        own_key = ("steps", step.id, "key")
        if not any(ref.path == own_key for template in templates for _, ref in references(template)):
            self.report(
                where,
                f"{label}: covered_by {cover!r}, whose undo does not fence this step's key: add "
                f"${{steps.{step.id}.key}} to that undo (a `before` call) so a replay of this step is refused",
            )

    def _check_pivots(self) -> None:
        pivots = [number for number, step in enumerate(self._declaration.steps) if step.pivot]
        for number in pivots[1:]:
            step = self._declaration.steps[number]
            first = self._declaration.steps[pivots[0]].id
            self.report(("steps", number, "pivot"), f"step {step.id!r}: a saga has one pivot, and {first!r} is it")

    # ---- templates --------------------------------------------------------------------------------------------

    def _check_template(self, template: Any, where: Location, scope: _Scope) -> None:
        try:
            found = list(references(template))
        except TemplateError as err:
            self.report(where, f"{scope.label}: {err}")
            return
        for at, ref in found:
            outcome = self._schema_of(ref, scope)
            if isinstance(outcome, str):
                self.report((*where, *at), f"{scope.label}: {outcome}")

    def _placeholder(self, scope: _Scope) -> Callable[[Reference], Any]:
        def value_of(ref: Reference) -> Any:
            schema = self._schema_of(ref, scope)
            return ANYTHING if isinstance(schema, str) else placeholder(schema)

        return value_of

    def _schema_of(self, ref: Reference, scope: _Scope) -> Schema | str:
        """The schema of the value `ref` names, or why it names none."""
        root, rest = ref.path[0], ref.path[1:]
        if root in scope.roots:
            return self._walked(scope.roots[root], rest, ref, f"{root}")
        if root == "input":
            return self._walked(self._input, rest, ref, "the input schema")
        if root != "steps":
            allowed = ", ".join(["input", "steps", *scope.roots])
            return f"{ref}: a reference starts with {allowed}, not {root!r}"
        if scope.step is None:
            return f"{ref}: {scope.label} can read only the input"
        if len(rest) < 2 or rest[1] not in ("result", "key"):
            return f"{ref}: a step reference is steps.<id>.result… or steps.<id>.key"
        target, part, fields = rest[0], rest[1], rest[2:]
        index = self._index.get(target)
        if index is None:
            return f"{ref}: there is no step {target!r}"
        later = index > scope.step
        if part == "key":
            if fields:
                return f"{ref}: a key is text, it has no fields"
            if later and not scope.undo:
                return f"{ref} refers to step {target!r}, which runs later: a step can use only earlier steps"
            return Schema({}, {"type": "string"})
        if later:
            if scope.undo:
                return f"{ref} reads the result of step {target!r}, which runs later: an undo can read only its key"
            return f"{ref} refers to step {target!r}, which runs later: a step can use only earlier steps"
        if index == scope.step and not scope.undo:
            return f"{ref}: the step reads its own result, a cycle"
        schema = scope.own_result if index == scope.step and scope.own_result is not None else self._results.get(target)
        if schema is None:
            return _FREE  # its operation is unknown (reported there) or answers no JSON: nothing to check against
        operation = self._declaration.steps[index].call
        return self._walked(schema, fields, ref, f"the result of step {target!r} ({operation})")

    def _walked(self, schema: Schema, names: tuple[str, ...], ref: Reference, what: str) -> Schema | str:
        for depth, name in enumerate(names):
            found = schema.field(name)
            if found is None:
                where = what if depth == 0 else f"{what} at {'.'.join(names[:depth])}"
                offered = ", ".join(schema.fields()) or "none"
                return f"{ref}: {where} has no field {name!r} (fields: {offered})"
            schema = found
        return schema

    def _walk(self, schema: Schema, names: tuple[str, ...]) -> Schema | None:
        for name in names:
            found = schema.field(name)
            if found is None:
                return None
            schema = found
        return schema


_FREE = Schema({}, {})
