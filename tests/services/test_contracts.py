"""Contract tests: each service answers exactly as its own OpenAPI document says.

schemathesis reads the document a service publishes at ``/openapi.json`` and runs every phase its CLI runs (examples,
coverage, fuzzing and the stateful phase that chains operations through the ids they return) with all of its default
checks: undocumented status codes, response bodies and headers that break their schema, schema-valid requests
rejected and schema-violating ones accepted, a wrong ``Allow`` on 405, ignored auth, 5xx. The apps run in-process
over ASGI on a fresh database, seeded and derandomized so a run is the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from schemathesis.engine.recorder import ScenarioRecorder
from schemathesis.generation.case import Case
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER, HookContext

from tests.services.service_helpers import AUTH, SERVICE_FACTORIES, TOKEN

# Per operation and phase. Enough for the stateful phase to create, move and fence records on every service; small
# enough that the whole module costs about 35 s of CPU (the coverage phase, which this does not bound, is a third).
MAX_EXAMPLES = 25
SEED = 20261126

TESTING_PHASES = ("examples", "coverage", "fuzzing", "stateful")
IDEMPOTENCY_KEY = "Idempotency-Key"
_MAX_KEY_LENGTH = 255


# A declined card is the payment provider's answer to a well-formed charge, not a rejection of it: the attempt is
# recorded as a failed charge and the 402 names it, as Stripe does, and the saga compensates on it. The schema says so;
# schemathesis's "valid data accepted" check is told so for this one operation (its default statuses, plus 402).
DECLINES_ARE_ANSWERS = {
    "include-path": "/charges",
    "include-method": "POST",
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "402", "403", "404", "409", "429", "5xx"],
        },
    },
}


def contract_config(*, replacing_faults: bool = False) -> SchemathesisConfig:
    """What `schemathesis run` would read from a schemathesis.toml: defaults, plus auth and a fixed budget and seed."""
    # (An `operations` entry also makes `schema.include()` keep every operation in schemathesis 4.32, so the run of
    # PUT /admin/faults, which has no POST /charges anyway, goes without it.)
    operations = [] if replacing_faults else [DECLINES_ARE_ANSWERS]
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": AUTH,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # Learned observations would make one run depend on the previous one.
            "cache": {"enabled": False},
            "operations": operations,
        }
    )


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


def run_contract_tests(app: Any, *, replacing_faults: bool = False) -> ContractRun:
    """Run schemathesis's engine (what its CLI runs) against ``app`` and collect what it found.

    ``PUT /admin/faults`` gets a run of its own (``replacing_faults=True``). Among the other routes it would let the generated
    client switch faults on — answers held for an hour, every POST a 503 — and the checks would then judge the
    faults, not the contract. Admin requests themselves are never faulted or delayed, so alone it is harmless.
    """
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app, config=contract_config(replacing_faults=replacing_faults))
    replace_faults = {"method": "PUT", "path": "/admin/faults"}
    schema = loaded.include(**replace_faults) if replacing_faults else loaded.exclude(**replace_faults)
    run = ContractRun()
    with _one_key_per_request(schema):
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


@contextmanager
def _one_key_per_request(schema: Any) -> Iterator[None]:
    """Make the generated client follow the ``Idempotency-Key`` rule its header description states.

    A key stands for one request: reused for a different one it answers 422 ``idempotency_key_reuse``, as the IETF
    Idempotency-Key draft requires. JSON Schema cannot say "unique per request", so schemathesis draws keys like
    ``"0"`` for unrelated requests and would read the 422 as a valid request rejected. A well-behaved client derives
    its key from the request, and so does this hook: each schema-valid key gets a digest of method, path and body
    appended, so a repeat of the same request still replays and a different one never collides. Invalid keys
    (negative cases) go out untouched. The 422 itself is covered in test_service_idempotency.py.
    """

    def scope_key_to_request(_: HookContext, case: Case, __: dict[str, Any]) -> None:
        key = (case.headers or {}).get(IDEMPOTENCY_KEY)
        if case.operation.schema is not schema or not isinstance(key, str) or not _is_positive(case):
            return
        request = json.dumps([case.method, case.formatted_path, case.body], sort_keys=True, default=repr)
        digest = hashlib.sha256(request.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        case.headers[IDEMPOTENCY_KEY] = f"{key[: _MAX_KEY_LENGTH - len(digest) - 1]}~{digest}"

    GLOBAL_HOOK_DISPATCHER.register_hook_with_name(scope_key_to_request, "before_call")
    try:
        yield
    finally:
        GLOBAL_HOOK_DISPATCHER.unregister(scope_key_to_request)


def _is_positive(case: Case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def assert_contract_kept(run: ContractRun, *, phases: tuple[str, ...], min_successes: int) -> None:
    """Every phase in ``phases`` ran and passed, enough requests got past validation, and nothing was found."""
    # A skipped phase (no links for the stateful one, say) would leave the rest of the checks with nothing to judge.
    assert {phase: run.phases.get(phase) for phase in phases} == dict.fromkeys(phases, Status.SUCCESS), run.report()
    assert run.statuses[200] + run.statuses[201] >= min_successes, run.statuses
    assert not run.failures and not run.errors, run.report()
    assert not [status for status in run.statuses if status >= 500], run.statuses


@pytest.mark.parametrize("service", sorted(SERVICE_FACTORIES))
def test_service_answers_as_its_openapi_document_says(service: str, tmp_path: Path) -> None:
    app = SERVICE_FACTORIES[service](tmp_path / f"{service}.db", TOKEN)

    run = run_contract_tests(app)

    assert_contract_kept(run, phases=TESTING_PHASES, min_successes=50)


@pytest.mark.parametrize("service", sorted(SERVICE_FACTORIES))
def test_fault_replacement_answers_as_its_openapi_document_says(service: str, tmp_path: Path) -> None:
    app = SERVICE_FACTORIES[service](tmp_path / f"{service}.db", TOKEN)

    run = run_contract_tests(app, replacing_faults=True)

    # One operation with no examples and no links to others: no examples or stateful phase to run.
    assert_contract_kept(run, phases=("coverage", "fuzzing"), min_successes=10)
