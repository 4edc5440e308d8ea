"""`cadenza saga`: declared sagas (docs/sagas.md). `lint` checks a definition against the OpenAPI documents it names;
running one and following its progress are commands of this same group.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clients.sagas import compile_file
from starters.console import EXIT_PROBLEM, console, errors

saga_app = typer.Typer(help="Sagas declared over your own OpenAPI documents.", no_args_is_help=True)


@saga_app.command("lint")
def lint(
    file: Annotated[Path, typer.Argument(help="A saga definition (YAML), e.g. examples/sagas/order.yaml")],
) -> None:
    """Check a saga definition: operationIds, field references, requests against their schemas, key headers, step
    order, and that every mutating step says how it is undone. Exits 0 when clean, 1 listing every problem (file:line),
    2 when the file is missing or not YAML."""
    compilation = compile_file(file)  # an unreadable file raises InvalidInput: the group prints it, exit 2
    if compilation.definition is None:
        for line in compilation.lines():
            errors.print(line, markup=False, soft_wrap=True)
        errors.print(f"{len(compilation.problems)} problem(s) in {file}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_PROBLEM)
    console.print(f"{file}: {compilation.summary()}", markup=False, soft_wrap=True)
