"""`cadenza doctor`: the command around `run_checks`."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.live import Live

from starters.console import EXIT_PROBLEM, console, errors
from starters.doctor.model import Result
from starters.doctor.render import results_json, results_table
from starters.doctor.run import DEFAULT_TIMEOUT, all_passed, run_checks


def doctor(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON (for scripts); progress on stderr")
    ] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds each check may take")] = DEFAULT_TIMEOUT,
) -> None:
    """Check this machine's setup with the active Temporal profile (TEMPORAL_PROFILE / TEMPORAL_*): Temporal,
    namespace, search attributes, workers polling, encryption keys, the three services and their tokens, the Order
    API, the codec server, and whether this build replays its open orders. Prints how to fix each failure; exit 0
    only when every check passes (warnings pass)."""
    results = asyncio.run(_with_progress(as_json, timeout))
    passed = all_passed(results)
    if as_json:
        print(results_json(results, passed))
    elif passed:
        console.print("[green]All checks passed.[/]")
    else:
        errors.print("[bold red]Some checks failed[/]: the last column says how to fix each.")
    if not passed:
        raise typer.Exit(EXIT_PROBLEM)


async def _with_progress(as_json: bool, timeout: float) -> list[Result]:
    done: list[Result] = []
    if as_json:  # stdout is the JSON document: progress goes to stderr
        with errors.status("Checking…") as status:
            return await run_checks(timeout=timeout, starting=lambda check: status.update(f"Checking {check.name}…"))
    # The table grows as checks finish (transient: then printed once, whole, also when stdout is not a terminal).
    with Live(results_table(done), console=console, refresh_per_second=8, transient=True) as live:

        def finished(result: Result) -> None:
            done.append(result)
            live.update(results_table(done))

        results = await run_checks(
            timeout=timeout,
            starting=lambda check: live.update(results_table(done, checking=check.name)),
            finished=finished,
        )
    console.print(results_table(results))
    return results
