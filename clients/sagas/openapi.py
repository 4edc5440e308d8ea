"""An OpenAPI document's operations, by operationId, as the compiler needs them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clients.sagas.schemas import Schema


@dataclass(frozen=True)
class Parameter:
    name: str
    location: str  # path, query, header, cookie
    required: bool
    schema: Schema


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    body: Schema | None
    body_required: bool
    response: Schema | None

    def parameter(self, location: str, name: str) -> Parameter | None:
        folded = name.lower() if location == "header" else name
        for parameter in self.parameters:
            given = parameter.name.lower() if location == "header" else parameter.name
            if parameter.location == location and given == folded:
                return parameter
        return None

    def named(self, location: str) -> list[str]:
        return [parameter.name for parameter in self.parameters if parameter.location == location]


class OpenApiDocument:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.operations: dict[str, Operation] = {}
        for route, item in (data.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            for method, operation in item.items():
                if isinstance(operation, dict) and isinstance(operation.get("operationId"), str):
                    found = self._operation(route, method, operation, item.get("parameters") or [])
                    self.operations[found.operation_id] = found

    @classmethod
    def read(cls, path: Path) -> OpenApiDocument:
        """Raises OSError or ValueError (not JSON/YAML, not an object) for the caller to report."""
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        if not isinstance(data, dict) or not isinstance(data.get("paths"), dict):
            raise ValueError("not an OpenAPI document (no paths)")
        return cls(path, data)

    def schema(self, node: Any) -> Schema:
        return Schema(self.data, node if isinstance(node, dict) else {})

    def _operation(self, route: str, method: str, node: dict[str, Any], shared: list[Any]) -> Operation:
        parameters: dict[tuple[str, str], Parameter] = {}
        for raw in [*shared, *(node.get("parameters") or [])]:
            declared = self.schema(raw).resolved().node
            if "name" in declared and "in" in declared:
                parameter = Parameter(
                    name=str(declared["name"]),
                    location=str(declared["in"]),
                    required=bool(declared.get("required", declared["in"] == "path")),
                    schema=self.schema(declared.get("schema")),
                )
                parameters[(parameter.location, parameter.name)] = parameter
        body_node = self.schema(node.get("requestBody")).resolved().node
        body_schema = _json_content(body_node)
        response = None
        for status, answer in sorted((node.get("responses") or {}).items()):
            if str(status).startswith("2"):
                content = _json_content(self.schema(answer).resolved().node)
                if content is not None:
                    response = self.schema(content)
                    break
        return Operation(
            operation_id=str(node["operationId"]),
            method=method.upper(),
            path=route,
            parameters=tuple(parameters.values()),
            body=self.schema(body_schema) if body_schema is not None else None,
            body_required=bool(body_node.get("required", False)),
            response=response,
        )


def _json_content(node: dict[str, Any]) -> Any:
    content = node.get("content")
    if not isinstance(content, dict):
        return None
    for media, entry in content.items():
        if "json" in media and isinstance(entry, dict):
            return entry.get("schema", {})
    return None
