"""`cadenza api-key create | list | revoke`: the Order API's keys, kept by clients/api_keys.py.

`create` prints the new key alone on stdout (so `KEY=$(cadenza api-key create …)` works) and everything else on
stderr. The key is shown this once; only its hash is stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from clients.api_keys import SCOPES, KeyStore, load_key_store
from starters.console import EXIT_BAD_INPUT, console, errors, fail

api_key_app = typer.Typer(
    help="API keys for the Order API (`cadenza api`): create, list, revoke.", no_args_is_help=True
)


def _store() -> KeyStore:
    return load_key_store()


@api_key_app.command("create")
def create(
    scope: Annotated[list[str], typer.Option("--scope", help=f"What the key may do; repeatable: {', '.join(SCOPES)}")],
    customer: Annotated[
        str | None, typer.Option("--customer", help="Bind the key to this customer: it sees and places only theirs")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Who or what holds the key, e.g. checkout")] = "unnamed",
) -> None:
    """Create a key and print it (alone, on stdout). It is shown once: only its hash is kept."""
    unknown = sorted(set(scope) - set(SCOPES))
    if unknown:
        fail(f"unknown scope {', '.join(unknown)}; the scopes are {', '.join(SCOPES)}", EXIT_BAD_INPUT)
    store = _store()
    key, entry = store.create(name=name, scopes=scope, customer_id=customer)
    bound = f", for customer {entry.customer_id} only" if entry.customer_id else ""
    errors.print(
        f"Created API key {entry.key_id} ({entry.name}: {', '.join(sorted(entry.scopes))}{bound}) in {store.origin}.\n"
        "This is the only time the key is shown; store it now. Send it as 'Authorization: Bearer <key>'."
    )
    typer.echo(key)


@api_key_app.command("list")
def list_keys() -> None:
    """List the keys: id, name, scopes, customer, created, revoked (never a key or its hash)."""
    store = _store()
    entries = store.entries()
    if not entries:
        errors.print(f"No API keys in {store.origin}. Create one with: cadenza api-key create --scope orders:read")
        return
    table = Table(
        "key_id",
        "name",
        "scopes",
        "customer",
        "created (UTC)",
        "revoked (UTC)",
        title=f"API keys in {store.origin}",
        title_justify="left",
    )
    for entry in entries:
        table.add_row(
            entry.key_id,
            entry.name,
            " ".join(sorted(entry.scopes)),
            entry.customer_id or "(any)",
            _when(entry.created_at),
            _when(entry.revoked_at),
        )
    console.print(table)


@api_key_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id, as `cadenza api-key list` shows it")]) -> None:
    """Revoke a key: running API processes refuse it within a second, without a restart."""
    entry = _store().revoke(key_id)
    console.print(
        f"API key {entry.key_id} ({entry.name}) is revoked since {_when(entry.revoked_at)} UTC: running API processes "
        "refuse it within a second, without a restart."
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else ""
