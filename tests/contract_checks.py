"""Running schemathesis's engine (what its CLI runs) on a loaded schema and judging the result — shared by the
services' contract tests and the Order API's."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.generation.case import Case
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER, HookContext


@dataclass
class ContractRun:
    """What a schemathesis run against one service did and found."""

    phases: dict[str, Status] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def report(self) -> str:
        """Every failure and engine error, one paragraph each, for the assertion message."""
        return "\n\n".join([*self.failures, *self.errors])


def execute(schema: Any) -> ContractRun:
    """Every phase of a schemathesis run over `schema`, with what it found."""
    run = ContractRun()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.PhaseFinished):
            run.phases[event.phase.name.value] = event.status
        elif isinstance(event, events.ScenarioFinished):
            _record_scenario(event.phase.name, event.recorder, run)
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"[{event.phase}] {event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"fatal: {event.exception!r}")
    return run


def _record_scenario(phase: str, recorder: ScenarioRecorder, run: ContractRun) -> None:
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            run.statuses[interaction.response.status_code] += 1
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status is Status.FAILURE and check.failure_info is not None:
                run.failures.append(_describe_failure(phase, recorder, case_id, check.failure_info.failure))


def _describe_failure(phase: str, recorder: ScenarioRecorder, case_id: str, failure: Exception) -> str:
    interaction = recorder.interactions.get(case_id)
    request = f"{interaction.request.method} {interaction.request.uri}" if interaction else "?"
    response = interaction.response if interaction else None
    answer = f"{response.status_code} {response.content[:300]!r}" if response is not None else "no response"
    title = getattr(failure, "title", type(failure).__name__)
    message = getattr(failure, "message", str(failure))
    return f"[{phase}] {recorder.label}: {title}\n  {message}\n  {request}\n  -> {answer}"


def assert_contract_kept(run: ContractRun, *, phases: tuple[str, ...], min_successes: int) -> None:
    """Every phase in ``phases`` ran and passed, enough requests got past validation, and nothing was found."""
    # A skipped phase (no links for the stateful one, say) would leave the rest of the checks with nothing to judge.
    ran = {phase: run.phases.get(phase) for phase in phases}
    assert ran == dict.fromkeys(phases, Status.SUCCESS), f"phases {ran}\n{run.report()}"
    assert run.statuses[200] + run.statuses[201] >= min_successes, run.statuses
    assert not run.failures and not run.errors, run.report()
    assert not [status for status in run.statuses if status >= 500], run.statuses


@contextmanager
def following_a_rule_in_words(schema: Any, follow: Callable[[Case], None]) -> Iterator[None]:
    """Let the generated client follow a rule its document states in words because JSON Schema cannot (a key unique
    per request, a sum of fields under a cap): `follow` adjusts each schema-valid case of `schema` before it is sent,
    as a well-behaved client would. Invalid cases (negative ones) go out untouched."""

    def before_call(_: HookContext, case: Case, __: dict[str, Any]) -> None:
        if case.operation.schema is schema and case.meta is not None and case.meta.generation.mode.is_positive:
            follow(case)

    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(before_call, "before_call")
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(before_call)


def api_schema(document: dict[str, Any], base_url: str, headers: dict[str, str], *, seed: int, examples: int) -> Any:
    """The schemathesis schema of an API's own document, for a client sending `headers`: deterministic, uncached."""
    config = SchemathesisConfig.from_dict(
        {
            "base-url": base_url,
            "seed": seed,
            "headers": headers,
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
            "cache": {"enabled": False},
        }
    )
    return schemathesis.openapi.from_dict(document, config=config)
