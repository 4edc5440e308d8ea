"""`cadenza saga`: declared sagas (docs/sagas.md). `lint` checks a definition against the OpenAPI documents it names;
`run` starts a run of it (lint first: a definition with problems never runs), `status` shows where a run is, `cancel`
and `retry-compensation` act on it (the same operations as the HTTP door's, clients/sagas/runs.py), and `chaos` runs
definitions many times under faults and worker kills, then audits every run.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from cadenza.connection import connect
from cadenza.errors import InvalidInput
from cadenza.settings import workflow_ui_link
from clients.sagas import Compilation, compile_file
from clients.sagas.runs import cancel_run, describe_run, retry_run, start_run, wait_for_run
from starters.console import EXIT_PROBLEM, console, errors
from starters.saga_chaos import SagaChaosPlan, run_saga_chaos
from starters.saga_view import run_panel
from workflows.saga_definition import SagaDefinition

saga_app = typer.Typer(help="Sagas declared over your own OpenAPI documents.", no_args_is_help=True)


@saga_app.command("lint")
def lint(
    file: Annotated[Path, typer.Argument(help="A saga definition (YAML), e.g. examples/sagas/order.yaml")],
) -> None:
    """Check a saga definition: operationIds, field references, requests against their schemas, key headers, step
    order, and that every mutating step says how it is undone. Exits 0 when clean, 1 listing every problem (file:line),
    2 when the file is missing or not YAML."""
    compilation = compile_file(file)  # an unreadable file raises InvalidInput: the group prints it, exit 2
    console.print(f"{file}: {_clean(file, compilation).summary()}", markup=False, soft_wrap=True)


@saga_app.command("run")
def run(
    file: Annotated[Path, typer.Argument(help="A saga definition (YAML), e.g. examples/sagas/order.yaml")],
    input_file: Annotated[
        Path, typer.Option("--input", help="The run's input as JSON, e.g. examples/sagas/order.input.json")
    ],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to end and print its final state")] = False,
) -> None:
    """Start a run of a saga (linted first: one with problems does not run, exit 1). Prints the run id and its Web UI
    link; with --wait, the final state and progress, exiting 0 only when the run completed (1: compensated or waiting
    for an operator). Running the same input again attaches to the run already started."""
    definition = _clean(file, compile_file(file)).definition
    assert definition is not None
    run_input = _read_input(input_file)
    asyncio.run(_run(definition, run_input, wait))


async def _run(definition: SagaDefinition, run_input: Any, wait: bool) -> None:
    client = await connect()
    started = await start_run(client, definition, run_input)
    link = workflow_ui_link(client.namespace, started.run_id)
    note = "already started with this input; attached" if started.duplicate else "started"
    steps = [step.id for step in definition.steps]
    if not wait:
        console.print(f"Run {started.run_id} {note}\nWeb UI: {link}", markup=False, soft_wrap=True)
        return
    errors.print(f"Run {started.run_id} {note}; waiting for it to end… (Web UI: {link})", markup=False, soft_wrap=True)
    view = await wait_for_run(client, started.run_id)
    console.print(run_panel(view, link, steps))
    console.print(f"final state: {view.state}", markup=False)
    if view.state != "completed":
        raise typer.Exit(EXIT_PROBLEM)


@saga_app.command("status")
def status(run_id: Annotated[str, typer.Argument(help="The run id `cadenza saga run` printed")]) -> None:
    """Show where a run is: its state, each step with its result, the undos, the Web UI link."""

    async def main() -> None:
        client = await connect()
        view = await describe_run(client, run_id)
        console.print(run_panel(view, workflow_ui_link(client.namespace, run_id)))

    asyncio.run(main())


@saga_app.command("cancel")
def cancel(run_id: Annotated[str, typer.Argument(help="The run id `cadenza saga run` printed")]) -> None:
    """Cancel a run: what its steps did so far is undone (a run past its pivot goes forward to completion instead).
    Exits 1 for a run that has already ended."""

    async def main() -> None:
        client = await connect()
        said = await cancel_run(client, run_id)
        console.print(f"{said} Follow it with `cadenza saga status {run_id}`.", markup=False, soft_wrap=True)

    asyncio.run(main())


@saga_app.command("retry-compensation")
def retry_compensation(run_id: Annotated[str, typer.Argument(help="The run id `cadenza saga run` printed")]) -> None:
    """Resume a run in needs_attention (after fixing the cause): retry its failed undos, or the step that failed after
    its pivot. Recorded with your user name; prints the run's state once it acted on the retry."""

    async def main() -> None:
        client = await connect()
        progress = await retry_run(client, run_id, operator=f"cli:{getpass.getuser()}")
        console.print(f"Retrying {run_id}: now {progress.state.value}.", markup=False, soft_wrap=True)

    asyncio.run(main())


def _clean(file: Path, compilation: Compilation) -> Compilation:
    """`compilation` if it has a definition; else print every problem and exit 1."""
    if compilation.definition is None:
        for line in compilation.lines():
            errors.print(line, markup=False, soft_wrap=True)
        errors.print(f"{len(compilation.problems)} problem(s) in {file}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_PROBLEM)
    return compilation


def _read_input(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as err:
        raise InvalidInput(f"Cannot read the input {path}: {err.strerror or err}") from None
    except json.JSONDecodeError as err:
        raise InvalidInput(f"The input {path} is not JSON: {err.msg} (line {err.lineno})") from None


@saga_app.command("chaos")
def chaos(
    files: Annotated[list[Path], typer.Argument(help="Saga definitions, each with <stem>.input.json beside it")],
    runs: Annotated[int, typer.Option("--runs", min=1, help="Runs of each saga")] = SagaChaosPlan.runs,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = SagaChaosPlan.concurrency,
    kill_every: Annotated[
        float, typer.Option("--kill-every", min=0, help="Seconds between worker SIGKILLs (0: none)")
    ] = SagaChaosPlan.kill_every_s,
    seed: Annotated[int, typer.Option("--seed")] = SagaChaosPlan.seed,
) -> None:
    """Run each saga many times on a stack of its own under faults (errors, stalls, slow commits at every service)
    with workers SIGKILLed mid-run, a share of the inputs refused by a service for good; then audit every run against
    the services' records. Exit 0 only if every run completed with every step's record live or compensated with
    nothing live."""
    sagas = []
    for file in files:
        definition = _clean(file, compile_file(file)).definition
        assert definition is not None
        sagas.append((definition, _read_input(file.with_name(f"{file.stem}.input.json"))))
    plan = SagaChaosPlan(runs=runs, concurrency=concurrency, kill_every_s=kill_every, seed=seed)
    with tempfile.TemporaryDirectory(prefix="cadenza-saga-chaos-") as state:
        report = asyncio.run(
            run_saga_chaos(plan, sagas, Path(state), log=lambda line: console.print(line, markup=False))
        )
    audit = report.audit
    assert audit is not None
    outcomes = ", ".join(f"{count} {outcome}" for outcome, count in sorted(audit.outcomes.items()))
    console.print(f"{audit.runs} runs: {outcomes}; {report.worker_kills} worker SIGKILL(s)", markup=False)
    for problem in audit.problems:
        errors.print(f"  {problem.order_id}: {problem.message}", markup=False, soft_wrap=True)
    if not report.passed:
        errors.print(f"{len(audit.problems)} problem(s) found by the saga audit", markup=False)
        raise typer.Exit(EXIT_PROBLEM)
    console.print("Saga audit: clean (every run completed with its records live, or left nothing live)")
