"""The declared form of a saga: what a YAML definition holds, key for key (docs/sagas.md, "Declaring a saga").

A team may build the same models in Python (`SagaDeclaration(name=..., apis={...}, steps=[...])`) and compile them
with `clients.sagas.compile_declaration`; YAML is the form `cadenza saga lint` reads and names lines of.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from workflows.saga_definition import DEFAULT_KEY_HEADER, Outcome, Request


class _Declared(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiDeclaration(_Declared):
    openapi: str = Field(description="The API's OpenAPI document, relative to the definition's file")
    service: str = Field(description="The service name Settings resolves to a base URL and token at run time")
    fence: str | None = Field(
        default=None, description="operationId of the API's fence (docs/downstream-contract.md), if it offers one"
    )
    profile: str | None = Field(
        default=None,
        description="A `cadenza verify --json` report, relative to the definition's file: its idempotency profiles "
        "of this API's operations (under `service`) apply to every step that calls them",
    )


class CallDeclaration(_Declared):
    call: str = Field(description="<api>.<operationId>")
    # The request is declared as it is compiled: templates by section (path, query, headers, body).
    request: Request = Field(default_factory=Request)
    key_header: str = DEFAULT_KEY_HEADER


class LookupDeclaration(CallDeclaration):
    items: str = Field(default="", description="Dotted path to the list of records in the answer; empty: the body")
    match: dict[str, JsonValue] = Field(min_length=1)


class UndoDeclaration(CallDeclaration):
    before: list[CallDeclaration] = Field(default_factory=list)
    when_unknown: Literal["fence", "lookup", "none"]
    lookup: LookupDeclaration | None = None


class IdempotencyDeclaration(_Declared):
    """What a step may rely on of its API's idempotency (a `cadenza verify` profile, or the team's own knowledge)."""

    replay: Literal["safe", "unsafe"]


OUTCOME_STATUS = r"^[1-5]([0-9]{2}|xx)$"


class StepDeclaration(CallDeclaration):
    id: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    outcomes: dict[str, Outcome] = Field(default_factory=dict)
    result: dict[str, JsonValue] | None = None
    undo: UndoDeclaration | None = None
    pivot: bool = False
    irreversible: bool = False
    covered_by: str | None = None
    idempotency: IdempotencyDeclaration | None = Field(
        default=None,
        description="Overrides the API's `profile` for this step; unsafe: an ambiguous failure is not retried",
    )


class SagaDeclaration(_Declared):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    apis: dict[str, ApiDeclaration] = Field(min_length=1)
    input: dict[str, JsonValue]
    id: str
    summary: str
    steps: list[StepDeclaration] = Field(min_length=1)
