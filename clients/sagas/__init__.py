"""Saga definitions: read a YAML file (or take a Python declaration), check it against the OpenAPI documents it names,
and compile it into the `SagaDefinition` a run carries (workflows/saga_definition.py).

`compile_file(path)` answers a `Compilation` (the definition, or every problem with its line) — what
`cadenza saga lint` prints; `load_definition(path)` answers the definition or raises `InvalidDefinition` — what a
command or the API that starts a run calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cadenza.errors import CadenzaError
from clients.sagas.compiler import Compiler, Problem
from clients.sagas.declaration import SagaDeclaration
from clients.sagas.positions import Location, UnreadableDefinition, read_positioned
from workflows.saga_definition import SagaDefinition

__all__ = [
    "Compilation",
    "InvalidDefinition",
    "Problem",
    "SagaDeclaration",
    "UnreadableDefinition",
    "compile_declaration",
    "compile_file",
    "load_definition",
]


class InvalidDefinition(CadenzaError):
    """A saga definition with problems: each is on a line of the message, as `file:line: what`."""

    next_step = "Fix each problem listed (`cadenza saga lint FILE` lists them again) and try again."


@dataclass(frozen=True)
class Compilation:
    source: str
    definition: SagaDefinition | None
    problems: list[Problem]

    def lines(self) -> list[str]:
        return [f"{self.source}:{problem.line}: {problem.message}" for problem in sorted(self.problems)]

    def summary(self) -> str:
        """What a clean definition is: `N steps, M undos: ok`."""
        assert self.definition is not None
        steps = self.definition.steps
        undos = sum(step.undo is not None for step in steps)
        return f"{len(steps)} steps, {undos} undos: ok"


def compile_file(path: Path) -> Compilation:
    """Raises `UnreadableDefinition` (exit 2) for a missing or unparseable file; any other problem is listed."""
    positioned = read_positioned(path)
    source = str(path)
    if not isinstance(positioned.data, dict):
        return Compilation(source, None, [Problem(1, "a saga definition is a mapping (name, apis, input, …)")])
    try:
        declaration = SagaDeclaration.model_validate(positioned.data)
    except ValidationError as err:
        problems = sorted({Problem(positioned.line(_location(error["loc"])), _shape(error)) for error in err.errors()})
        return Compilation(source, None, problems)
    return _compiled(source, declaration, path.parent, positioned.line)


def compile_declaration(declaration: SagaDeclaration, base: Path) -> Compilation:
    """A declaration built in Python; `base` is where its OpenAPI paths are relative to. Problems carry line 0."""
    return _compiled(declaration.name, declaration, base, lambda _: 0)


def load_definition(path: Path) -> SagaDefinition:
    compilation = compile_file(path)
    if compilation.definition is None:
        raise InvalidDefinition("\n".join(compilation.lines()))
    return compilation.definition


def _compiled(source: str, declaration: SagaDeclaration, base: Path, line: Callable[[Location], int]) -> Compilation:
    compiler = Compiler(declaration, base, line)
    definition = compiler.compile()
    return Compilation(source, definition, sorted(compiler.problems))


def _location(loc: tuple[int | str, ...]) -> Location:
    # pydantic names a union's branch in the location (e.g. `function-after[...]`); the file has no such key.
    return tuple(part for part in loc if isinstance(part, int) or "[" not in part)


def _shape(details: Any) -> str:
    where = ".".join(str(part) for part in _location(details.get("loc", ())))
    message = str(details.get("msg", "invalid"))
    if details.get("type") == "extra_forbidden":
        message = "unknown key (see docs/sagas.md, Declaring a saga)"
    elif details.get("type") == "missing":
        message = "required key missing"
    return f"{where}: {message}" if where else message
