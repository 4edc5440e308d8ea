"""`cadenza verify`: does a downstream API keep its idempotency promise? Probes a running API from outside
(clients/verify/probes.py) as its configuration says (config.py) and reports per operation (report.py).

From a team's own tests, against its staging API::

    from clients.verify import assert_keeps_idempotency
    def test_staging_keeps_idempotency():
        assert_keeps_idempotency("verify.yaml")
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from clients.verify.config import VerifyConfig, load_config
from clients.verify.probes import verify
from clients.verify.report import Cleanup, OperationReport, Probe, ProbeResult, Profile, Verdict, VerifyReport

__all__ = [
    "Cleanup",
    "OperationReport",
    "Probe",
    "ProbeResult",
    "Profile",
    "Verdict",
    "VerifyConfig",
    "VerifyReport",
    "assert_keeps_idempotency",
    "load_config",
    "verify",
    "verify_file",
]


async def verify_file(config_path: str | Path, *, allow_production: bool = False) -> VerifyReport:
    """Load `config_path` and probe the API it names."""
    return await verify(load_config(Path(config_path)), allow_production=allow_production)


def assert_keeps_idempotency(config_path: str | Path) -> VerifyReport:
    """For a team's CI: probe the API `config_path` names (synchronously) and fail with every broken rule, naming the
    operation, the probe and the evidence. Returns the report when everything holds."""
    report = asyncio.run(verify_file(config_path))
    failures = [
        f"{operation.service}.{operation.operation} {result.probe.value}: {result.rule} — {result.evidence} "
        f"({result.consequence})"
        for operation in report.operations
        for result in operation.failed
    ]
    if failures:
        raise AssertionError("the API does not keep its idempotency promise:\n" + "\n".join(failures))
    return report
