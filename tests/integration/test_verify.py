"""`cadenza verify` against the three simulated services as `cadenza up` runs them (on free ports): every probe holds
on the correct services, and each switchable key misbehaviour (cadenza/faults.py) is reported by the probe that
should catch it, with its rule and its consequence. A probe that stops detecting its misbehaviour fails here."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from activities.audit import without_execution
from activities.records import ServiceRecords
from cadenza.errors import InvalidInput
from cadenza.processes import free_port
from cadenza.stack import EmbeddedStack, StackConfig
from clients.verify import Probe, Verdict, VerifyReport, assert_keeps_idempotency, load_config, verify
from tests.integration.test_cli import REPO, _cadenza_async

pytestmark = pytest.mark.integration

SERVICES = ("erp", "payment", "inventory")
CONFIG = REPO / "examples" / "verify" / "services.yaml"


@dataclass
class Services:
    env: dict[str, str]
    """CADENZA_<NAME>_URL and CADENZA_SERVICE_TOKEN: what the example configuration reads."""
    http: httpx.AsyncClient
    records: ServiceRecords
    """The services' own records, read as `cadenza audit` reads them."""

    async def misbehave(self, mode: str | None) -> None:
        for name in SERVICES:
            url = self.env[f"CADENZA_{name.upper()}_URL"]
            answer = await self.http.put(
                f"{url}/admin/faults",
                json={"idempotency": mode},
                headers={"Authorization": f"Bearer {self.env['CADENZA_SERVICE_TOKEN']}"},
            )
            assert answer.status_code == 200, answer.text

    async def verify(self, *, keep_records: bool = False) -> VerifyReport:
        return await verify(load_config(CONFIG, self.env), keep_records=keep_records)

    async def live_orders(self, since: set[str]) -> set[str]:
        """The order ids, other than `since`, whose records an audit of these services would report as live."""
        return {
            order_id
            for order_id, records in (await self.records.everything()).items()
            if order_id not in since and without_execution(records)[1]
        }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def services(tmp_path_factory) -> AsyncIterator[Services]:
    ports = {name: free_port() for name in SERVICES}
    config = StackConfig(
        state_dir=tmp_path_factory.mktemp("verify"),
        temporal_port=free_port(),  # not started: the services alone
        ui_port=None,
        service_ports=ports,
        token=f"test-{uuid.uuid4().hex}",
        with_worker=False,
        persistent_history=False,
    )
    stack = EmbeddedStack(config)
    await stack.start_services()
    env = {f"CADENZA_{name.upper()}_URL": f"http://127.0.0.1:{port}" for name, port in ports.items()}
    env["CADENZA_SERVICE_TOKEN"] = config.token
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            yield Services(env, http, ServiceRecords(http, config.endpoints()))
    finally:
        stack.stop()


def _failures(report: VerifyReport) -> set[tuple[str, Probe]]:
    return {(f"{o.service}.{o.operation}", r.probe) for o in report.operations for r in o.failed}


@pytest.mark.asyncio(loop_scope="session")
async def test_the_three_services_keep_every_promise_within_a_minute(services: Services):
    await services.misbehave(None)
    started = time.monotonic()
    report = await services.verify()
    assert time.monotonic() - started < 60
    assert report.ok, _failures(report)
    assert report.requests <= 400
    for operation in report.operations:
        assert operation.profile.replay == "safe" and operation.profile.fence == "holds", operation
        assert operation.profile.replay_header == "Idempotent-Replayed"
        verdicts = {result.probe: result.verdict for result in operation.probes}
        assert verdicts[Probe.REPLAY] is verdicts[Probe.IN_FLIGHT] is verdicts[Probe.FENCE] is Verdict.PASS
        assert verdicts[Probe.MISSING_KEY] is Verdict.INFO  # they run a keyless request: recorded, not relied on


@pytest.mark.asyncio(loop_scope="session")
async def test_what_the_probes_wrote_is_fenced_afterwards_and_what_had_no_key_is_named(services: Services):
    await services.misbehave(None)
    earlier = set((await services.records.everything()).keys())
    kept = await services.verify(keep_records=True)
    left_by_a_kept_run = await services.live_orders(earlier)
    assert kept.cleanup is None and len(left_by_a_kept_run) >= 20  # charges, pending ERP orders, held stock

    earlier = set((await services.records.everything()).keys())
    report = await services.verify()

    assert report.ok and report.cleanup is not None, _failures(report)
    cleanup = report.cleanup
    assert (cleanup.kept, cleanup.refused) == ([], [])
    assert cleanup.fenced >= 40 and cleanup.undone >= 20, cleanup
    # Only what the missing-key probe created can stay, one order per service, each named.
    assert sorted(request.split(".")[0] for request in cleanup.unkeyed) == sorted(SERVICES), cleanup.unkeyed
    assert len(await services.live_orders(earlier)) == len(SERVICES)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_service_without_a_fence_keeps_the_probes_records_and_is_named(services: Services):
    await services.misbehave(None)
    config = load_config(CONFIG, services.env)
    unfenced = config.services["erp"].model_copy(update={"fence": None})
    config = config.model_copy(update={"services": {**config.services, "erp": unfenced}})

    report = await verify(config)

    assert report.cleanup is not None and report.cleanup.kept == ["erp"] and report.cleanup.left_behind
    assert report.cleanup.fenced > 0  # the other two services' requests still are


# Each misbehaviour, an operation where it shows, the probe that must catch it there and words of its consequence.
MISBEHAVIOURS = [
    ("ignore_keys", "payment.createCharge", Probe.REPLAY, "a retry executed again (2 effects)"),
    ("ignore_keys", "payment.createCharge", Probe.FENCE, "not safe to undo by fence"),
    ("replay_successes_only", "payment.createCharge", Probe.ERRORS, "the retry of a refused request was executed"),
    ("concurrent_duplicates", "payment.createCharge", Probe.IN_FLIGHT, "concurrent duplicates executed 2 times"),
    ("reuse_executes", "payment.createCharge", Probe.REUSE, "the other body was executed (2 effects)"),
    ("key_ignores_path", "payment.refundCharge", Probe.SCOPE, "got the first request's answer and was never executed"),
    ("key_ignores_path", "inventory.commitReservation", Probe.SCOPE, "never executed"),
]


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("mode", sorted({mode for mode, *_ in MISBEHAVIOURS}))
async def test_each_misbehaviour_is_reported_with_its_rule_and_consequence(services: Services, mode: str):
    await services.misbehave(mode)
    try:
        report = await services.verify()
    finally:
        await services.misbehave(None)
    assert not report.ok
    failures = _failures(report)
    for _, operation, probe, consequence in (entry for entry in MISBEHAVIOURS if entry[0] == mode):
        assert (operation, probe) in failures, failures
        service, name = operation.split(".")
        found = next(o for o in report.operations if (o.service, o.operation) == (service, name))
        result = next(r for r in found.failed if r.probe is probe)
        assert consequence in result.consequence, result
        assert result.rule.startswith(("draft", "Cadenza contract")), result
        assert "effects" in result.evidence and result.evidence[0].isalpha()
        if probe is not Probe.FENCE:
            assert found.profile.replay == "unsafe"


@pytest.mark.asyncio(loop_scope="session")
async def test_the_command_exits_0_then_1_naming_operation_probe_and_evidence(services: Services, tmp_path: Path):
    await services.misbehave(None)
    report_file = tmp_path / "verify.json"
    good = await _cadenza_async(["verify", str(CONFIG), "--json", str(report_file)], services.env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "never point this at production" in good.stdout
    written = json.loads(report_file.read_text())
    assert written["ok"] is True
    assert written["profiles"]["payment"]["createCharge"]["replay"] == "safe"

    await services.misbehave("concurrent_duplicates")
    try:
        bad = await _cadenza_async(["verify", str(CONFIG)], services.env)
    finally:
        await services.misbehave(None)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "payment.createCharge (in_flight)" in bad.stdout
    assert "statuses 201, 201; effects 2" in bad.stdout


@pytest.mark.asyncio(loop_scope="session")
async def test_cadenza_faults_switches_a_misbehaviour_that_verify_then_names(services: Services):
    # What a newcomer types to see verify catch a broken API (docs/downstream-contract.md, "Showing it can tell").
    switched = await _cadenza_async(["faults", "idempotency", "payment", "key_ignores_path"], services.env)
    try:
        assert switched.returncode == 0, switched.stdout + switched.stderr
        bad = await _cadenza_async(["verify", str(CONFIG)], services.env)
    finally:
        healed = await _cadenza_async(["faults", "idempotency", "payment", "off"], services.env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "FAIL payment.refundCharge scope" in bad.stdout or "FAIL payment.createCharge scope" in bad.stdout
    assert healed.returncode == 0, healed.stdout + healed.stderr
    good = await _cadenza_async(["verify", str(CONFIG)], services.env)
    assert good.returncode == 0, good.stdout + good.stderr
    refused = await _cadenza_async(["faults", "idempotency", "payment", "bogus"], services.env)
    assert refused.returncode == 2 and "bogus" in refused.stderr


@pytest.mark.asyncio(loop_scope="session")
async def test_a_teams_ci_can_assert_it(services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name, value in services.env.items():
        monkeypatch.setenv(name, value)
    await services.misbehave("ignore_keys")
    try:
        with pytest.raises(AssertionError, match=r"payment.createCharge replay: draft SHOULD"):
            # In a thread: assert_keeps_idempotency runs its own event loop, as a team's synchronous test would.
            await asyncio.to_thread(assert_keeps_idempotency, CONFIG)
    finally:
        await services.misbehave(None)
    assert (await asyncio.to_thread(assert_keeps_idempotency, CONFIG)).ok


def test_production_is_refused_and_a_missing_variable_named(tmp_path: Path):
    config = tmp_path / "prod.yaml"
    config.write_text(CONFIG.read_text().replace("environment: local", "environment: production"))
    with pytest.raises(InvalidInput, match="production"):
        asyncio.run(verify(load_config(config, {})))
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        CONFIG.read_text().replace("${CADENZA_ERP_URL:-http://127.0.0.1:${CADENZA_ERP_PORT:-8101}}", "${NO_SUCH_URL}")
    )
    with pytest.raises(InvalidInput, match="NO_SUCH_URL"):
        load_config(broken, {})


def test_an_operation_its_openapi_document_lacks_is_refused(tmp_path: Path):
    text = CONFIG.read_text().replace("../sagas/openapi/", str(CONFIG.parents[1] / "sagas" / "openapi") + "/")
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(
        text.replace("      createCharge:\n", "      createChrge:\n").replace(
            "before: createCharge", "before: createChrge"
        )
    )
    with pytest.raises(InvalidInput, match=r"payment.createChrge: no such operationId in payment.json"):
        load_config(renamed, {})
    moved = tmp_path / "moved.yaml"
    moved.write_text(text.replace("path: /charges\n", "path: /charge\n", 1))
    with pytest.raises(InvalidInput, match=r"payment.createCharge is POST /charges in payment.json, not POST /charge"):
        load_config(moved, {})
