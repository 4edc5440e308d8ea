"""`cadenza chaos` options and the pieces of a chaos run that need no stack: the outage spec, refusals before
anything starts, and which compensating orders get cancelled."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from starters.chaos import DEFAULT_OUTAGE, ChaosReport, InvalidOutage, Outage, parse_outage
from starters.chaos.cancels import MidCompensationCanceller
from starters.chaos.timeline import Timeline
from starters.cli import app
from starters.load import LoadReport
from workflows.policies import STEP_RETRY_BUDGET


def test_the_default_outage_outlasts_the_step_deadline() -> None:
    assert DEFAULT_OUTAGE.seconds > STEP_RETRY_BUDGET.total_seconds()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("payment:150", Outage("payment", 150)), (" erp : 2.5 ", Outage("erp", 2.5)), ("none", None), ("", None)],
)
def test_outage_specs(text: str, expected: Outage | None) -> None:
    assert parse_outage(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("billing:10", "expected SERVICE:SECONDS with SERVICE one of erp, payment, inventory, or none"),
        ("payment", "expected SERVICE:SECONDS"),
        ("payment:soon", "'soon' is not a number of seconds"),
        ("payment:0", "more than 0 and at most 3600 seconds"),
        ("payment:7200", "more than 0 and at most 3600 seconds"),
    ],
)
def test_bad_outage_specs_are_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidOutage, match=message):
        parse_outage(text)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outage", "billing:10"], "--outage: 'billing:10': expected SERVICE:SECONDS"),
        (["--faults", "payment:slow_commit_rate=2"], "--faults: 'slow_commit_rate=2' in payment"),
    ],
)
def test_chaos_refuses_bad_options_before_starting_anything(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["chaos", *args])

    assert result.exit_code == 2
    assert message in " ".join(result.output.split())  # rich wraps long lines


class _Handle:
    def __init__(self, cancels: list[str], workflow_id: str) -> None:
        self._cancels, self._id = cancels, workflow_id

    async def cancel(self) -> None:
        self._cancels.append(self._id)


class _Client:
    def __init__(self) -> None:
        self.cancels: list[str] = []

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(self.cancels, workflow_id)


async def test_every_nth_order_seen_compensating_is_cancelled_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("starters.chaos.cancels.SECOND_CANCEL_AFTER_S", 0)
    report = ChaosReport(LoadReport("run", 10, 1, 1))
    lines: list[str] = []
    client = _Client()
    timeline = Timeline(10, report, lines.append)
    canceller = MidCompensationCanceller(client, 3, timeline, report)  # type: ignore[arg-type]

    for n in range(7):
        canceller.offer(f"order-{n}")
    await asyncio.sleep(0.05)

    assert sorted(client.cancels) == ["order-0", "order-0", "order-3", "order-3", "order-6", "order-6"]
    assert sorted(report.disruptions.cancelled_mid_compensation) == ["order-0", "order-3", "order-6"]
    assert report.disruptions.counts()["cancelled_mid_compensation"] == 3
    assert len(lines) == 6 and lines == report.events
    assert any(line.endswith("0/10 closed: cancel 2/2 of order-3 (seen compensating)") for line in lines)
