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
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.generation.case import Case

from tests.contract_checks import ContractRun, assert_contract_kept, execute, following_a_rule_in_words
from tests.services.service_helpers import AUTH, SERVICE_FACTORIES, TOKEN

# Per operation and phase. Enough for the stateful phase to create, move and fence records on every service; small
# enough that the whole module costs about 35 s of CPU (the coverage phase, which this does not bound, is a third).
MAX_EXAMPLES = 25
SEED = 20261126

TESTING_PHASES = ("examples", "coverage", "fuzzing", "stateful")
KEY_HEADERS = ("Idempotency-Key", "X-Request-Key")
"""The headers the services take their idempotency keys in (the airline names its own)."""
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


def run_contract_tests(app: Any, *, replacing_faults: bool = False) -> ContractRun:
    """Run schemathesis's engine (what its CLI runs) against ``app`` and collect what it found.

    ``PUT /admin/faults`` gets a run of its own (``replacing_faults=True``). Among the other routes it would let the
    generated client switch faults on — answers held for an hour, every POST a 503 — and the checks would then judge the
    faults, not the contract. Admin requests themselves are never faulted or delayed, so alone it is harmless.
    """
    loaded = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=contract_config(replacing_faults=replacing_faults)
    )
    replace_faults = {"method": "PUT", "path": "/admin/faults"}
    schema = loaded.include(**replace_faults) if replacing_faults else loaded.exclude(**replace_faults)
    with _one_key_per_request(schema):
        return execute(schema)


def _one_key_per_request(schema: Any) -> AbstractContextManager[None]:
    """Make the generated client follow the ``Idempotency-Key`` rule its header description states.

    A key stands for one request: reused for a different one it answers 422 ``idempotency_key_reuse``, as the IETF
    Idempotency-Key draft requires. JSON Schema cannot say "unique per request", so schemathesis draws keys like
    ``"0"`` for unrelated requests and would read the 422 as a valid request rejected. A well-behaved client derives
    its key from the request, and so does this hook: each schema-valid key gets a digest of method, path and body
    appended, so a repeat of the same request still replays and a different one never collides. Invalid keys
    (negative cases) go out untouched. The 422 itself is covered in test_service_idempotency.py.
    """

    def scope_key_to_request(case: Case) -> None:
        for header in KEY_HEADERS:
            key = (case.headers or {}).get(header)
            if not isinstance(key, str):
                continue
            request = json.dumps([case.method, case.formatted_path, case.body], sort_keys=True, default=repr)
            digest = hashlib.sha256(request.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            case.headers[header] = f"{key[: _MAX_KEY_LENGTH - len(digest) - 1]}~{digest}"

    return following_a_rule_in_words(schema, scope_key_to_request)


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
