"""`--faults` specs (`cadenza load`, `cadenza chaos`): every field the services accept, refused before a run starts
with a message naming the offending setting when the services would refuse it."""

from __future__ import annotations

import pytest

from cadenza.faults import FaultConfig
from starters.faultspec import InvalidFaultSpec, parse_fault_spec


def test_a_spec_with_slow_commits_parses_to_configs_the_services_accept() -> None:
    spec = (
        "payment:error_rate=0.2,stall_rate=0.05,slow_commit_rate=0.05,slow_commit_ms=8000;"
        " inventory:slow_commit_rate=1 ; erp:rate_limit=0.1,retry_after_s=0.5,latency_ms=20,seed=7"
    )

    parsed = parse_fault_spec(spec)

    assert parsed == {
        "payment": {"error_rate": 0.2, "stall_rate": 0.05, "slow_commit_rate": 0.05, "slow_commit_ms": 8000},
        "inventory": {"slow_commit_rate": 1.0},
        "erp": {"rate_limit": 0.1, "retry_after_s": 0.5, "latency_ms": 20, "seed": 7},
    }
    for config in parsed.values():
        FaultConfig.model_validate(config)  # what FaultAdmin.set will PUT


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("payment:slow_commit_rate=1.5", "'slow_commit_rate=1.5' in payment: input should be less than or equal to 1"),
        ("payment:slow_commit_ms=-1", "'slow_commit_ms=-1' in payment: input should be greater than or equal to 0"),
        ("erp:slow_commit_ms=soon", "'slow_commit_ms=soon' in erp: input should be a valid integer"),
        ("erp:slow_commit_ms=2.5", "'slow_commit_ms=2.5' in erp: input should be a valid integer"),
        ("erp:slow_commit_ms=3600001", "input should be less than or equal to 3600000"),
        ("inventory:error_rate=-0.1", "'error_rate=-0.1' in inventory: input should be greater than or equal to 0"),
        ("inventory:stall_ms=-5", "'stall_ms=-5' in inventory: input should be greater than or equal to 0"),
        ("payment:slow_commits=0.1", "'slow_commits=0.1' in payment: expected one of error_rate, "),
        ("payment:script=x", "'script=x' in payment: expected one of"),
        ("payment:slow_commit_rate", "'slow_commit_rate' in payment: expected one of"),
        ("billing:error_rate=0.1", "'billing:error_rate=0.1': expected SERVICE:field=value"),
    ],
)
def test_bad_specs_are_refused_naming_the_setting(spec: str, message: str) -> None:
    with pytest.raises(InvalidFaultSpec) as refused:
        parse_fault_spec(spec)

    assert message in str(refused.value)


def test_the_refusal_says_what_the_field_means() -> None:
    with pytest.raises(InvalidFaultSpec, match="waits `slow_commit_ms` before it is applied"):
        parse_fault_spec("payment:slow_commit_rate=2")
