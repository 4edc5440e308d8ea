"""The expression syntax of saga definitions, and its evaluator: pure and deterministic, so workflow code runs it.

A template is any JSON value; its strings may hold references `${path}`:

- `${input.a.b}`: a field of the saga's input; `${steps.s.result.x}`: a field of an earlier step's result;
  `${steps.s.key}`: the idempotency key step `s` is (or would be) called with. A path is names and array indexes
  separated by dots (`${input.lines.0.sku}`); nothing else is evaluated — no arithmetic, calls or conditions,
  so a definition reads the same to a person, to `cadenza saga lint` and to the workflow.
- a string that is exactly one reference is replaced by the value it names, keeping its JSON type (an integer stays an
  integer, a list stays a list); a reference inside a longer string is interpolated (strings as they are, numbers and
  booleans as JSON); `$${` writes a literal `${`.
- other JSON values are copied as they are.

Lookups (undo by lookup) and result projections add roots of their own: `item` (a record a lookup found) and
`response` (the body a step's call answered).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cadenza.errors import CadenzaError

_REFERENCE = re.compile(r"\$\{([^}]*)\}")
_ESCAPED = "$${"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$|^[0-9]+$")


class TemplateError(CadenzaError, ValueError):
    """A template that cannot be evaluated: a malformed reference, or one naming a value the scope does not hold."""


@dataclass(frozen=True)
class Reference:
    """One `${...}` of a template: its path as names, and whether it is the whole string (keeping the JSON type)."""

    path: tuple[str, ...]
    whole: bool

    def __str__(self) -> str:
        return "${" + ".".join(self.path) + "}"


def parse_path(text: str) -> tuple[str, ...]:
    """The names of a reference's path; raises TemplateError for an empty part or a character outside a name."""
    parts = tuple(text.strip().split("."))
    for part in parts:
        if not _NAME.match(part):
            raise TemplateError(f"malformed reference ${{{text}}}: {part!r} is not a name or an index")
    return parts


def references(template: Any) -> Iterator[tuple[tuple[str | int, ...], Reference]]:
    """Every reference in `template`, with where it sits in the template (keys and list indexes)."""
    yield from _references(template, ())


def _references(value: Any, where: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Reference]]:
    if isinstance(value, str):
        whole = whole_reference(value)
        if whole is not None:
            yield where, Reference(parse_path(whole), whole=True)
            return
        for match in _REFERENCE.finditer(value.replace(_ESCAPED, "\0")):
            yield where, Reference(parse_path(match.group(1)), whole=False)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _references(item, (*where, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, (*where, index))


def is_template(value: Any) -> bool:
    """Whether `value` is a string holding at least one reference (not only escaped `$${`)."""
    return isinstance(value, str) and _REFERENCE.search(value.replace(_ESCAPED, "\0")) is not None


def whole_reference(text: str) -> str | None:
    match = _REFERENCE.fullmatch(text)
    return match.group(1) if match else None


def render(template: Any, scope: Mapping[str, Any]) -> Any:
    """`template` with every reference replaced from `scope` (a mapping of roots: `input`, `steps`, ...)."""
    if isinstance(template, str):
        whole = whole_reference(template)
        if whole is not None:
            return resolve(parse_path(whole), scope)
        if _ESCAPED not in template and "${" not in template:
            return template
        protected = template.replace(_ESCAPED, "\0")
        rendered = _REFERENCE.sub(lambda match: _as_text(resolve(parse_path(match.group(1)), scope), match), protected)
        return rendered.replace("\0", "${")
    if isinstance(template, Mapping):
        return {key: render(item, scope) for key, item in template.items()}
    if isinstance(template, list):
        return [render(item, scope) for item in template]
    return template


def resolve(path: tuple[str, ...], scope: Mapping[str, Any]) -> Any:
    """The value `path` names in `scope`."""
    value: Any = scope
    for depth, name in enumerate(path):
        if isinstance(value, Mapping) and name in value:
            value = value[name]
        elif isinstance(value, list) and name.isdigit() and int(name) < len(value):
            value = value[int(name)]
        else:
            where = ".".join(path[:depth]) or "the scope"
            raise TemplateError(f"${{{'.'.join(path)}}}: {where} has no {name!r}")
    return value


def _as_text(value: Any, match: re.Match[str]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    raise TemplateError(f"{match.group(0)} is {type(value).__name__}, not text: only a whole-string reference keeps it")
