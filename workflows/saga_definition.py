"""A saga definition in its compiled form: everything a run needs, and nothing it would have to read from a file.

`cadenza saga lint` and the compiler (clients/sagas/) turn a YAML definition and the OpenAPI documents it names into
a `SagaDefinition`; the generic workflow takes it as its input, so each run keeps the definition it started with
(a changed file never changes a run in flight) and `content_hash` names which one that was. Requests are templates
(workflows/saga_templates.py) rendered at run time over the run's input and its earlier steps.

How an undo runs, by what is known of its step (docs/sagas.md, "Declaring a saga"):
- the step answered 2xx: the `before` calls, then `call`;
- the step's outcome is unknown (no final answer recorded: timed out, lost with a workflow task, cancelled in flight,
  or never reached although its undo was registered before it), by `when_unknown`:
  - `fence`: an undo that `needs_result` is replaced by `fence` (the API's fence of the step's key, which undoes the
    request if it committed and refuses it if it arrives later); one that does not is run as declared (it is a call
    by key — usually the fence itself);
  - `lookup`: `lookup` finds what the step did; `call` runs for the record it found, as the step's result; none
    found: nothing to undo (a request still in flight may commit later: the API offers no fence);
  - `none`: nothing is undone; declared, never implied.
A step without an undo is a read (GET), or declared `pivot`, `irreversible` or `covered_by` another step's undo.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_KEY_HEADER = "Idempotency-Key"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Outcome(StrEnum):
    """What an answer means for the step that got it."""

    OK = "ok"
    RETRY = "retry"
    RETRY_AFTER = "retry_after"
    """Retried, waiting as long as the answer's `Retry-After` asks (the retry policy's backoff when it has none)."""
    FINAL = "final"
    """Refused for good: the step failed, the saga compensates."""


DEFAULT_OUTCOMES: dict[str, Outcome] = {
    "2xx": Outcome.OK,
    "408": Outcome.RETRY,
    "425": Outcome.RETRY,
    "429": Outcome.RETRY_AFTER,
    "5xx": Outcome.RETRY,
    "4xx": Outcome.FINAL,
}
"""What a step makes of an answer unless it declares otherwise: success, a transient refusal retried, any other
client error final. Declared `outcomes` are laid over these: an exact status before its class (`409` before `4xx`)."""


class Outcomes(_Model):
    """A step's classification of answers by status: exact codes (`"409"`) and classes (`"4xx"`)."""

    table: dict[str, Outcome] = Field(default_factory=lambda: dict(DEFAULT_OUTCOMES))

    def classify(self, status: int) -> Outcome:
        """The outcome of an answer with `status`: its exact entry, else its class's, else final."""
        exact = self.table.get(str(status))
        if exact is not None:
            return exact
        return self.table.get(f"{status // 100}xx", Outcome.FINAL)


class Request(_Model):
    """A call's request as templates: path parameters, query parameters, headers and the JSON body."""

    path: dict[str, JsonValue] = Field(default_factory=dict)
    query: dict[str, JsonValue] = Field(default_factory=dict)
    headers: dict[str, JsonValue] = Field(default_factory=dict)
    body: JsonValue = None


class Call(_Model):
    """One HTTP call, resolved from its OpenAPI document: where it goes and how it is keyed and classified."""

    api: str = Field(description="The API's name in the definition")
    service: str = Field(description="Resolved at run time to a base URL and token (cadenza.settings.service_endpoint)")
    operation_id: str
    method: str
    path: str = Field(description="The path template of the operation, e.g. /orders/{order_id}/confirm")
    key_header: str | None = Field(description="The header carrying the idempotency key; None for reads")
    request: Request = Field(default_factory=Request)
    outcomes: Outcomes = Field(default_factory=Outcomes)

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING_METHODS


class Lookup(_Model):
    """Finding what a step did when its answer was lost: call, then the first record whose fields match."""

    call: Call
    items: tuple[str, ...] = Field(description="Where the records are in the answer's body (empty: the body is a list)")
    match: dict[str, JsonValue] = Field(description="Field of a record -> template its value must equal")


class Undo(_Model):
    before: tuple[Call, ...] = ()
    call: Call
    when_unknown: Literal["fence", "lookup", "none"]
    needs_result: bool = Field(description="Whether `before` or `call` read the step's result (not only keys)")
    fence: Call | None = Field(
        default=None, description="The API's fence of the step's key: run instead when the result is unknown"
    )
    lookup: Lookup | None = None


class Step(_Model):
    id: str
    call: Call
    result: dict[str, JsonValue] | None = Field(
        default=None, description="Projection of the answer (templates over `response`); None: the whole body"
    )
    undo: Undo | None = None
    pivot: bool = False
    irreversible: bool = False
    covered_by: str | None = None
    replay_unsafe: bool = Field(
        default=False,
        description="The API does not replay this operation safely (its idempotency profile, `cadenza verify`): never "
        "run local first, and an ambiguous failure (timeout, connection lost after sending) is not retried — the "
        "saga compensates with the outcome unknown (lookup, then undo)",
    )

    @model_serializer(mode="wrap")
    def _profile_only_when_unsafe(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Left out when False: every definition compiled before the field existed keeps its content hash and its
        # recorded input.
        data = handler(self)
        if isinstance(data, dict) and data.get("replay_unsafe") is False:
            del data["replay_unsafe"]
        return data


class SagaDefinition(_Model):
    """A compiled saga definition: the generic workflow's input, carried with each run."""

    name: str
    input_schema: dict[str, JsonValue]
    id: str = Field(description="Template of a run's workflow id")
    summary: str = Field(description="Template of the run's Web UI summary")
    steps: tuple[Step, ...]

    content_hash: str = Field(
        default="",
        description="sha256 of the rest, canonical JSON: which definition a run started with (filled when empty)",
    )

    @model_validator(mode="after")
    def _hash_once(self) -> SagaDefinition:
        # Filled, never re-checked: a run's input decoded by a later release must keep the hash it started with even
        # when the model gained fields with defaults since.
        if not self.content_hash:
            object.__setattr__(
                self, "content_hash", content_hash(self.model_dump(mode="json", exclude={"content_hash"}))
            )
        return self

    def step(self, step_id: str) -> Step:
        return next(step for step in self.steps if step.id == step_id)


def content_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
