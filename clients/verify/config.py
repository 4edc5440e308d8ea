"""The `cadenza verify` configuration: which API to probe, where, with which credentials, and for each mutating
operation a sample request and the read that counts its effects (docs/downstream-contract.md, "Checking an API").

Strings may name environment variables as `${NAME}` or `${NAME:-default}`, the default naming one in turn
(`${CADENZA_ERP_URL:-http://127.0.0.1:${CADENZA_ERP_PORT:-8101}}`; credentials come from the environment, never from
the file); `${unique}` in a sample is replaced by a fresh value for every probe, so that each probe counts
only its own effects.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from cadenza.errors import InvalidInput
from clients.sagas.openapi import OpenApiDocument

# A default holds plain text and `${…}` of its own (no other braces): one level of nesting, as the examples need.
_ENV = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-((?:\$\{[^{}]*\}|[^{}])*))?\}")

MAX_REQUESTS_CEILING = 2000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Counter(_Strict):
    """The read that counts a sample's effects: `GET path?query`, then the records at `items` (the body itself when
    empty; a 404 counts none) whose fields equal `match`."""

    path: str
    query: dict[str, str] = Field(default_factory=dict)
    items: str = ""
    match: dict[str, JsonValue] = Field(default_factory=dict)


class Sample(_Strict):
    """A request: its JSON body (None: no body), templates over `${unique}` and `${before.<field>}`."""

    body: JsonValue = None


class OperationConfig(_Strict):
    method: Literal["POST", "PUT", "PATCH", "DELETE"] = "POST"
    path: str = Field(description="Path template; `{name}` parameters are filled from `path_params`")
    before: str | None = Field(
        default=None,
        description="Another operation of this service run first (fresh key) for every probe: its answer is "
        "`${before.<field>}` (the charge a refund refunds)",
    )
    path_params: dict[str, str] = Field(default_factory=dict)
    sample: Sample = Field(default_factory=Sample)
    other_body: JsonValue = Field(default=None, description="Another body for the reuse probe (None: probe skipped)")
    failing: Sample | None = Field(
        default=None, description="A request the API refuses (a declined card): errors probe"
    )
    count: Counter


class ServiceConfig(_Strict):
    base_url: str
    token: str | None = Field(default=None, description="Bearer token: write it as ${ENV_VAR}, never in clear")
    key_header: str = "Idempotency-Key"
    fence: str | None = Field(default=None, description="Path of the API's fence by key (Cadenza's contract), if any")
    operations: dict[str, OperationConfig] = Field(min_length=1)


class VerifyConfig(_Strict):
    environment: Literal["local", "staging", "production"] = Field(
        description="What the base URLs point at; probes write, so production is refused unless asked for"
    )
    openapi: dict[str, str] = Field(
        default_factory=dict,
        description="Service -> its OpenAPI document, relative to the file: each operation is checked against it",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per request")
    max_requests: int = Field(default=400, ge=1, le=MAX_REQUESTS_CEILING, description="For the whole run")
    services: dict[str, ServiceConfig] = Field(min_length=1)


def load_config(path: Path, environ: dict[str, str] | None = None) -> VerifyConfig:
    """Read and check a configuration; `InvalidInput` (exit 2) naming what is wrong."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InvalidInput(f"cannot read {path}: {err.strerror}") from None
    except yaml.YAMLError as err:
        raise InvalidInput(f"{path} is not YAML: {err}") from None
    env = dict(os.environ if environ is None else environ)
    try:
        config = VerifyConfig.model_validate(_expand(raw, env, path))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise InvalidInput(f"{path}: {problems}") from None
    for name, service in config.services.items():
        for operation, spec in service.operations.items():
            if spec.before is not None and spec.before not in service.operations:
                raise InvalidInput(f"{path}: {name}.{operation}: before names no operation of {name}: {spec.before}")
    for name, document in config.openapi.items():
        _check_against_openapi(config, name, path.parent / document, path)
    return config


def _check_against_openapi(config: VerifyConfig, name: str, document_path: Path, path: Path) -> None:
    """Each configured operation of service `name` is in its OpenAPI document, with that method and path: the profile
    is stored under the operationId a saga definition calls."""
    service = config.services.get(name)
    if service is None:
        raise InvalidInput(f"{path}: openapi names {name!r}, which is not among the services")
    try:
        document = OpenApiDocument.read(document_path)
    except (OSError, ValueError) as err:
        raise InvalidInput(f"{path}: the OpenAPI document of {name} ({document_path}) cannot be read: {err}") from None
    for operation, spec in service.operations.items():
        declared = document.operations.get(operation)
        if declared is None:
            known = ", ".join(sorted(document.operations))
            raise InvalidInput(f"{path}: {name}.{operation}: no such operationId in {document_path.name} ({known})")
        if (declared.method, declared.path) != (spec.method, spec.path):
            raise InvalidInput(
                f"{path}: {name}.{operation} is {declared.method} {declared.path} in {document_path.name}, "
                f"not {spec.method} {spec.path}"
            )


def _expand(value: Any, env: dict[str, str], path: Path) -> Any:
    if isinstance(value, str):

        def variable(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return _ENV.sub(variable, default)
            raise InvalidInput(f"{path}: environment variable {name} is not set (and has no :-default)")

        return _ENV.sub(variable, value)
    if isinstance(value, dict):
        return {key: _expand(item, env, path) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, env, path) for item in value]
    return value
