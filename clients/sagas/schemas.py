"""JSON Schemas as the compiler reads them: follow `$ref`s, find a field, make a value of a field's type.

A schema always travels with its root (`Schema`): `$ref`s resolve against it — an OpenAPI document's
`#/components/schemas/...`, an input schema's `#/$defs/...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

_DEPTH = 8


@dataclass(frozen=True)
class Schema:
    root: dict[str, Any]
    node: dict[str, Any]

    def resolved(self) -> Schema:
        node, seen = self.node, 0
        while isinstance(node.get("$ref"), str) and seen < _DEPTH:
            node = _pointer(self.root, node["$ref"])
            seen += 1
        return Schema(self.root, node)

    def at(self, node: Any) -> Schema:
        return Schema(self.root, node if isinstance(node, dict) else {})

    def branches(self) -> list[Schema]:
        """The alternatives a value may take (anyOf/oneOf), without `null`; allOf merged into one."""
        schema = self.resolved()
        node = schema.node
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                found = [branch for item in node[key] for branch in schema.at(item).branches()]
                return [branch for branch in found if branch.node.get("type") != "null"] or found
        if isinstance(node.get("allOf"), list):
            merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
            for item in node["allOf"]:
                for key, value in schema.at(item).resolved().node.items():
                    merged.setdefault(key, value)
            return [Schema(self.root, merged)]
        return [schema]

    def types(self) -> set[str]:
        """The JSON types this schema admits; empty when it says nothing (anything goes)."""
        found: set[str] = set()
        for branch in self.branches():
            declared = branch.node.get("type")
            if isinstance(declared, str):
                found.add(declared)
            elif isinstance(declared, list):
                found.update(str(item) for item in declared)
            elif "properties" in branch.node:
                found.add("object")
            else:
                return set()
        return found

    def field(self, name: str) -> Schema | None:
        """The schema of field (or array index) `name`; None when the schema says it does not exist."""
        candidates: list[Schema] = []
        for branch in self.branches():
            node = branch.node
            properties = node.get("properties")
            extra = node.get("additionalProperties")
            if name.isdigit() and ("items" in node or node.get("type") == "array"):
                candidates.append(branch.at(node.get("items", {})))
            elif isinstance(properties, dict) and name in properties:
                candidates.append(branch.at(properties[name]))
            elif isinstance(extra, dict):
                candidates.append(branch.at(extra))
            elif not isinstance(properties, dict) and extra is not False and not _scalar(node):
                candidates.append(branch.at({}))  # a free-form object: anything may be there
        return candidates[0] if candidates else None

    def fields(self) -> list[str]:
        names: list[str] = []
        for branch in self.branches():
            properties = branch.node.get("properties")
            if isinstance(properties, dict):
                names.extend(name for name in properties if name not in names)
        return names

    def title(self) -> str:
        ref = self.node.get("$ref")
        return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else str(self.resolved().node.get("title", "its schema"))


def _scalar(node: dict[str, Any]) -> bool:
    declared = node.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or ())
    return bool(types) and not types & {"object", "array"}


def _pointer(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if not ref.startswith("#"):
        return {}  # an external document: not followed, so nothing is known of it
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


ANYTHING = object()
"""A placeholder for a value whose schema says nothing of its type: every check on it is skipped."""


def placeholder(schema: Schema, depth: int = 0) -> Any:
    """A value of `schema`'s type and shape (every declared property, one array item): stands for a template's value
    when a request is checked against its operation's schema."""
    branches = schema.branches()
    node = branches[0].node if branches else {}
    if "const" in node:
        return node["const"]
    if isinstance(node.get("enum"), list) and node["enum"]:
        return node["enum"][0]
    types = Schema(schema.root, node).types()
    if not types or depth > _DEPTH:
        return ANYTHING
    kind = next(iter(sorted(types - {"null"}) or ["null"]))
    branch = Schema(schema.root, node)
    if kind == "object":
        return {name: placeholder(branch.field(name) or branch.at({}), depth + 1) for name in branch.fields()}
    if kind == "array":
        return [placeholder(branch.at(node.get("items", {})), depth + 1)]
    return {"string": "x", "integer": 1, "number": 1.5, "boolean": True, "null": None}.get(kind, ANYTHING)


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"
