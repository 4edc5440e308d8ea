"""The models of a declared saga's run (workflows/declared_saga.py): its input, the generic activity's request and
answer, and the progress its status query reports.

Inputs and results are recorded in every history: fields are only ever added, with defaults.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SerializerFunctionWrapHandler, model_serializer

from workflows.models import CompensationStatus, ProgressKind
from workflows.saga_definition import Outcomes, SagaDefinition, Step

SAGA_WORKFLOW_ID_PREFIX = "saga-"


class SagaRun(BaseModel):
    """The generic workflow's input: the compiled definition the run keeps for its whole life (a changed file never
    reaches a run in flight) and the run's input, already checked against the definition's input schema."""

    model_config = ConfigDict(frozen=True)

    definition: SagaDefinition
    input: dict[str, JsonValue]


class OperationCall(BaseModel):
    """One rendered HTTP call of a declared saga: the input of the generic activity (activities/operation_calls.py).
    The workflow renders every template; the activity only sends and classifies."""

    model_config = ConfigDict(frozen=True)

    service: str = Field(description="Resolved by the worker to a base URL and token (cadenza.settings)")
    operation: str = Field(description="The operationId, for messages")
    method: str
    path: str = Field(description="Rendered: path parameters substituted and URL-quoted")
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    body: JsonValue = None
    key_header: str | None = None
    key: str | None = None
    outcomes: Outcomes = Field(default_factory=Outcomes)
    replay_unsafe: bool = Field(
        default=False, description="An ambiguous failure is final (OutcomeUnknown), never retried: Step.replay_unsafe"
    )

    @model_serializer(mode="wrap")
    def _profile_only_when_unsafe(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)  # left out when False: the calls of every other step are recorded as before
        if isinstance(data, dict) and data.get("replay_unsafe") is False:
            del data["replay_unsafe"]
        return data

    def describe(self) -> str:
        return f"{self.service}.{self.operation}: {self.method} {self.path}"


class SagaFirstAttempts(BaseModel):
    """The first attempts of a run's first steps, made together by one local activity (workflows/first_attempts.py;
    the activity: activities/first_attempts.py, `make_saga_first_attempts`). The activity renders each step's call as
    the workflow would (workflows/saga_calls.py) over the run's input, every step's key and the results of the steps
    before it in the batch, and answers a `FirstAttemptsDone` whose outcomes are named by step id."""

    model_config = ConfigDict(frozen=True)

    steps: tuple[Step, ...] = Field(description="The batch's steps, in order: none replay-unsafe, none after the pivot")
    input: dict[str, JsonValue]
    keys: dict[str, str] = Field(description="Every step's key (`steps.<id>.key`): a template may name any step's")
    call_timeout_ms: int = Field(description="Each call's deadline: a local attempt's")


class OperationAnswer(BaseModel):
    """What an answered call returns: its status, its JSON body (None when empty or not JSON), and the headers a saga
    may care about (lower-case names)."""

    status: int
    body: JsonValue = None
    headers: dict[str, str] = Field(default_factory=dict)


class SagaState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    COMPENSATING = "compensating"
    COMPENSATED = "compensated"
    NEEDS_ATTENTION = "needs_attention"
    """A compensation keeps failing, or a step after the pivot failed for good: an operator's retry resumes it."""


class SagaCompensation(BaseModel):
    """One undo as the run reports it (what workflows/saga.py's `CompensationEntry` asks for): named by its step."""

    action: str
    status: CompensationStatus = CompensationStatus.PENDING
    undone: bool | None = None
    detail: str | None = None


class SagaEvent(BaseModel):
    seq: int
    kind: ProgressKind
    state: SagaState
    step: str | None = None
    compensation: str | None = None
    detail: str | None = None
    at: str


class SagaProgress(BaseModel):
    """Where a run is: the `status` query's answer and the workflow's result."""

    name: str
    content_hash: str
    state: SagaState = SagaState.RUNNING
    current_step: str | None = None
    completed_steps: list[str] = Field(default_factory=list)
    pivoted: bool = Field(default=False, description="The pivot succeeded: the run goes forward only")
    failed_step: str | None = None
    reason: str | None = None
    error_type: str | None = None
    compensations: list[SagaCompensation] = Field(default_factory=list)
    results: dict[str, JsonValue] = Field(default_factory=dict, description="Each completed step's result")
    events: list[SagaEvent] = Field(default_factory=list)
