"""How `cadenza doctor` runs its checks: a check that hangs or breaks fails with a reason instead of stalling or
crashing doctor; checks that need Temporal are skipped without it; warnings pass, skipped checks do not."""

from __future__ import annotations

import asyncio
import time

from starters.doctor.model import Check, Context, Outcome, Status, passed, warned
from starters.doctor.run import all_passed, run_checks


async def _hangs(_: Context) -> Outcome:
    await asyncio.sleep(3600)
    return passed("never")


async def _breaks(_: Context) -> Outcome:
    raise ValueError("an answer nobody expected")


async def _fine(_: Context) -> Outcome:
    return passed("fine")


async def _meh(_: Context) -> Outcome:
    return warned("works, not for production", "do this")


async def test_hanging_and_breaking_checks_fail_with_their_reason_and_the_rest_still_runs():
    seen: list[str] = []
    started = time.monotonic()
    results = await run_checks(
        [Check("hangs", _hangs, on_timeout="point X at it"), Check("breaks", _breaks), Check("fine", _fine)],
        timeout=0.2,
        starting=lambda check: seen.append(check.name),
    )
    assert time.monotonic() - started < 5
    assert seen == ["hangs", "breaks", "fine"]
    hangs, breaks, fine = results
    assert (hangs.status, hangs.detail, hangs.fix) == (Status.FAIL, "no answer within 0.2 s", "point X at it")
    assert (breaks.status, breaks.detail) == (Status.FAIL, "ValueError: an answer nobody expected")
    assert fine.status is Status.PASS


async def test_checks_needing_temporal_are_skipped_when_it_was_not_reached():
    [skipped] = await run_checks([Check("namespace", _fine, needs_temporal=True)])
    assert (skipped.status, skipped.fix) == (Status.SKIP, "Fix the Temporal row first")


async def test_warnings_pass_failures_and_skips_do_not():
    ok = await run_checks([Check("fine", _fine), Check("meh", _meh)])
    assert all_passed(ok)
    assert not all_passed(await run_checks([Check("fine", _fine), Check("ns", _fine, needs_temporal=True)]))
    assert not all_passed(await run_checks([Check("breaks", _breaks)]))
