"""Does a declared request fit its operation's schema? Checked on a value built from schema-typed placeholders.

Each reference in the request stands for a value of its field's type and shape (clients/sagas/schemas.py's
`placeholder`), literals stand for themselves, and `jsonschema` validates the result. Only what the declaration
decides can fail on a placeholder — a missing required field, a wrong type, a property the schema forbids; a
constraint on the value itself (a pattern, a range, an enum) is the run's input to meet, not the definition's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from clients.sagas.schemas import ANYTHING, Schema, json_type
from workflows.saga_templates import Reference, TemplateError, is_template, parse_path, whole_reference

Path = tuple[str | int, ...]

# What a declaration decides even where a template supplies the value.
_STRUCTURAL = frozenset({"type", "required", "additionalProperties", "unevaluatedProperties"})


@dataclass
class Instance:
    value: Any
    templates: dict[Path, str]  # where a template's value stands, and the template
    anything: set[Path]  # placeholders of untyped fields: nothing is checked there


def build_instance(template: Any, value_of: Callable[[Reference], Any]) -> Instance:
    built = Instance(None, {}, set())
    built.value = _build(template, (), value_of, built)
    return built


def _build(template: Any, where: Path, value_of: Callable[[Reference], Any], built: Instance) -> Any:
    if isinstance(template, str) and is_template(template):
        built.templates[where] = template
        whole = whole_reference(template)
        if whole is None:
            return "x"
        try:
            value = value_of(Reference(parse_path(whole), whole=True))
        except TemplateError:
            value = ANYTHING
        if value is ANYTHING:
            built.anything.add(where)
            return None
        return _scrub(value, where, built)
    if isinstance(template, dict):
        return {key: _build(item, (*where, key), value_of, built) for key, item in template.items()}
    if isinstance(template, list):
        return [_build(item, (*where, index), value_of, built) for index, item in enumerate(template)]
    return template


def _scrub(value: Any, where: Path, built: Instance) -> Any:
    """Placeholders nested in a placeholder: untyped leaves become None, and nothing is checked under them."""
    if value is ANYTHING:
        built.anything.add(where)
        return None
    if isinstance(value, dict):
        return {key: _scrub(item, (*where, key), built) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, (*where, index), built) for index, item in enumerate(value)]
    return value


def violations(target: Schema, instance: Instance) -> list[tuple[Path, str]]:
    """Each way `instance` breaks `target`: where (in the instance), and a message naming the field."""
    node = target.node
    schema = {"allOf": [node], "components": target.root.get("components", {}), "$defs": target.root.get("$defs", {})}
    validator = Draft202012Validator(schema)
    found: list[tuple[Path, str]] = []
    for error in sorted(validator.iter_errors(instance.value), key=lambda e: list(map(str, e.absolute_path))):
        if _counts(error, instance):
            where = tuple(error.absolute_path)
            message = _message(error, where, instance)
            found.append((_pointed(error, where), message))
    return found


def _pointed(error: ValidationError, where: Path) -> Path:
    """Where a person fixes it: an unknown field's own entry rather than its object's."""
    given: Any = error.instance
    if error.validator in ("additionalProperties", "unevaluatedProperties") and isinstance(given, dict):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(name for name in given if name not in allowed)
        if extra:
            return (*where, extra[0])
    return where


def _under(where: Path, roots: Iterable[Path]) -> bool:
    return any(where[: len(root)] == root for root in roots)


def _counts(error: ValidationError, instance: Instance) -> bool:
    where = tuple(error.absolute_path)
    if _under(where, instance.anything):
        return False
    if error.validator in ("anyOf", "oneOf"):
        if not error.context:
            return not _under(where, instance.templates)
        branches: dict[Any, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        return all(any(_counts(sub, instance) for sub in errors) for errors in branches.values())
    if error.validator in _STRUCTURAL:
        return True
    return not _under(where, instance.templates)


def _message(error: ValidationError, where: Path, instance: Instance) -> str:
    field = ".".join(map(str, where))
    at = f"{field}: " if field else ""
    template = next((text for path, text in instance.templates.items() if path == where), None)
    given: Any = error.instance
    if error.validator == "required":
        wanted: Any = error.validator_value
        missing = next((name for name in wanted if name not in (given or {})), "?")
        return f"{at}missing required field {missing!r}"
    if error.validator in ("additionalProperties", "unevaluatedProperties"):
        allowed = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = sorted(name for name in (given or {}) if name not in allowed)
        return f"{at}unknown field {', '.join(map(repr, extra))}: the schema allows no other fields"
    if error.validator == "type":
        what = f"{template} is {json_type(given)}" if template else f"{json_type(given)} given"
        return f"{at}{what}, the schema wants {error.validator_value}"
    return f"{at}{error.message}"
