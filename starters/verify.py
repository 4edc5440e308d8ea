"""`cadenza verify CONFIG [--json FILE]`: probe a running API's idempotency from outside and show, per operation,
what a saga can rely on (the work is clients/verify/; this module renders it)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from clients.verify import Cleanup, OperationReport, Verdict, VerifyReport, load_config, verify
from starters.console import EXIT_PROBLEM, console
from starters.reports import report_file

_MARKS = {
    Verdict.PASS: "[green]pass[/]",
    Verdict.FAIL: "[bold red]FAIL[/]",
    Verdict.INFO: "[yellow]info[/]",
    Verdict.SKIPPED: "[dim]skip[/]",
}


def verify_command(
    config: Annotated[
        Path, typer.Argument(help="The probes' configuration (YAML), e.g. examples/verify/services.yaml")
    ],
    json_file: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Also write the report (and each operation's profile) as JSON here", callback=report_file
        ),
    ] = None,
    allow_production: Annotated[
        bool, typer.Option("--allow-production", help="Probe an API the configuration says is production")
    ] = False,
    keep_records: Annotated[
        bool,
        typer.Option(
            "--keep-records", help="Leave what the probes wrote at the services (to inspect it); fenced otherwise"
        ),
    ] = False,
) -> None:
    """Probe each configured operation of a running API: replay, in-flight duplicate, key reuse, missing key, replayed
    errors, key scope, and Cadenza's fence where the API offers one. Probes write (they charge, order, reserve): point
    it at a local or staging URL, never production. Exits 0 when everything a saga relies on holds, 1 naming each
    operation, probe and evidence that does not, 2 when the configuration is refused. Afterwards every request of the
    probes that wrote is fenced by its key, which undoes what it made, unless --keep-records."""
    loaded = load_config(config)  # InvalidInput: the group prints it, exit 2
    console.print(
        f"cadenza verify: {loaded.environment} API ({', '.join(s.base_url for s in loaded.services.values())}); "
        "probes write real requests — never point this at production",
        markup=False,
        soft_wrap=True,
    )
    report = asyncio.run(verify(loaded, allow_production=allow_production, keep_records=keep_records))
    render(report)
    if json_file is not None:
        payload = report.model_dump(mode="json")
        payload["ok"] = report.ok
        payload["profiles"] = {
            service: {name: profile.model_dump(mode="json") for name, profile in operations.items()}
            for service, operations in report.profiles().items()
        }
        json_file.write_text(_json(payload), encoding="utf-8")
        console.print(f"report written to {json_file}", markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_PROBLEM)


def render(report: VerifyReport) -> None:
    """One table per operation: the probes' verdicts, evidence and consequence, then its profile."""
    for operation in report.operations:
        console.print(_table(operation))
    failed = [operation for operation in report.operations if operation.failed]
    summary = f"{len(report.operations)} operations, {report.requests} requests, {report.seconds:g} s: "
    if failed:
        names = ", ".join(f"{o.service}.{o.operation} ({', '.join(r.probe.value for r in o.failed)})" for o in failed)
        console.print(f"[bold red]{escape(summary)}not kept by {escape(names)}[/]")
        for operation in failed:
            for result in operation.failed:
                console.print(
                    f"FAIL {operation.service}.{operation.operation} {result.probe.value}: {result.rule} — "
                    f"{result.evidence} → {result.consequence}",
                    markup=False,
                    soft_wrap=True,
                )
    else:
        console.print(f"[green]{escape(summary)}every promise a saga relies on holds[/]")
    _render_cleanup(report.cleanup, duplicated=report.carried_out_twice)


def _render_cleanup(cleanup: Cleanup | None, *, duplicated: bool) -> None:
    if cleanup is None:
        console.print("records kept (--keep-records): what the probes wrote stays at the services", markup=False)
        return
    console.print(
        f"cleanup: fenced the probes' {cleanup.fenced} writing requests, {cleanup.undone} records undone",
        markup=False,
    )
    left = [f"{name}: no fence, the probes' records stay" for name in cleanup.kept]
    left += [f"{request}: made without a key, nothing to fence it by" for request in cleanup.unkeyed]
    left += cleanup.refused
    for line in left:
        console.print(f"[yellow]left behind[/] {escape(line)}")
    if duplicated:
        console.print(
            "[yellow]left behind[/] the second effects of requests the API carried out twice under one key (the "
            "failed replay, in-flight, reuse or error probes above): a fence undoes one record per key"
        )
    if cleanup.left_behind or duplicated:
        console.print(
            "An audit or reconciler of these services counts what was left behind (ids verify-…): probe a stack of "
            "its own, or audit your orders with --prefix (docs/downstream-contract.md).",
            markup=False,
            soft_wrap=True,
        )


def _table(operation: OperationReport) -> Table:
    profile = operation.profile
    title = (
        f"{operation.service}.{operation.operation}  {operation.method} {operation.path}  —  replay "
        f"{profile.replay}, fence {profile.fence}"
    )
    table = Table(title=escape(title), title_justify="left", show_lines=False, expand=False)
    for column in ("probe", "verdict", "rule", "evidence", "consequence"):
        table.add_column(column, overflow="fold")
    for result in operation.probes:
        table.add_row(
            result.probe.value,
            _MARKS[result.verdict],
            escape(result.rule),
            escape(result.evidence),
            escape(result.consequence),
        )
    return table


def _json(payload: object) -> str:
    return json.dumps(payload, indent=2) + "\n"
