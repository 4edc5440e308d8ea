"""Running the checks in order, each within a time limit, so that doctor always finishes and says why."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import httpx

from starters.doctor import endpoints, keys, replay, temporal
from starters.doctor.model import Check, Context, Result, Status

CHECKS: list[Check] = [*temporal.CHECKS, *keys.CHECKS, *endpoints.CHECKS, *replay.CHECKS]
"""In the order a user fixes things: Temporal first (everything depends on it), then what the worker needs, then
whether this build can run the orders in flight."""

DEFAULT_TIMEOUT = 10.0


async def run_checks(
    checks: Sequence[Check] = CHECKS,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    starting: Callable[[Check], None] = lambda _: None,
    finished: Callable[[Result], None] = lambda _: None,
) -> list[Result]:
    """Every check's result, in order. A check that needs Temporal is skipped when it was not reached; one that
    overruns `timeout` seconds fails with its `on_timeout` fix; one that raises fails with the error."""
    results: list[Result] = []
    async with httpx.AsyncClient(timeout=timeout) as http:
        ctx = Context(http=http)
        for check in checks:
            starting(check)
            result = await _run_one(check, ctx, timeout)
            results.append(result)
            finished(result)
    return results


async def _run_one(check: Check, ctx: Context, timeout: float) -> Result:
    if check.needs_temporal and ctx.client is None:
        return Result(check.name, Status.SKIP, "not checked: Temporal is not reachable", "Fix the Temporal row first")
    try:
        outcome = await asyncio.wait_for(check.run(ctx), timeout)
    except TimeoutError:
        return Result(check.name, Status.FAIL, f"no answer within {timeout:g} s", check.on_timeout or "See the detail")
    except Exception as err:  # noqa: BLE001 - an unforeseen answer is a failed check with its reason, never a traceback
        return Result(check.name, Status.FAIL, f"{type(err).__name__}: {err}", check.on_timeout or "See the detail")
    return Result(check.name, outcome.status, outcome.detail, outcome.fix)


def all_passed(results: Sequence[Result]) -> bool:
    """Warnings pass (they say what production should change); failures and skipped checks do not."""
    return all(result.status in (Status.PASS, Status.WARN) for result in results)
