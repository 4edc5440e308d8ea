"""The layers and what each may import (README, "Layout"): every import of a first-party package, at any depth of a
module — inside functions and `if TYPE_CHECKING:` too, since a lazy import couples the layers as much as an eager
one — checked against the one table below."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# What each first-party package may import besides itself. Read top to bottom: each layer builds only on those above.
ALLOWED: dict[str, frozenset[str]] = {
    # the kernel: settings, connection, codec, telemetry, logs, processes, shared HTTP pieces — third-party code only
    "cadenza": frozenset(),
    # deterministic code and the data contract (models, policies, saga, the activities' names)
    "workflows": frozenset({"cadenza"}),
    # effects: HTTP calls, reading the services' records, the audit and reconcile invariants
    "activities": frozenset({"cadenza", "workflows"}),
    # the operations both doors use, knowing no terminal and no web framework
    "clients": frozenset({"cadenza", "workflows", "activities"}),
    # the worker process
    "workers": frozenset({"cadenza", "workflows", "activities"}),
    # the doors: never each other, and nothing imports starters (the CLI may use the worker's setup: replay, bench)
    "starters": frozenset({"cadenza", "workflows", "activities", "clients", "workers"}),
    "api": frozenset({"cadenza", "workflows", "activities", "clients"}),
    "codec_server": frozenset({"cadenza", "workflows", "activities", "clients"}),
    # apart: the simulated downstream APIs, on the kernel only
    "services": frozenset({"cadenza"}),
}


def imported_modules(path: str, source: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in the module at `path` (relative to the repository), at any
    depth; relative imports resolved against the module's own package."""
    package = Path(path).parent.parts
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            elif node.module:
                yield node.lineno, node.module


def violations(path: str, source: str) -> list[str]:
    """What the module at `path` imports against the table, one `file:line imports X (...)` line each."""
    layer = Path(path).parts[0]
    allowed = ALLOWED[layer]
    found = []
    for line, module in imported_modules(path, source):
        target = module.split(".")[0]
        if target in ALLOWED and target != layer and target not in allowed:
            rule = (
                f"may import only {', '.join(sorted(allowed))}" if allowed else "imports no other first-party package"
            )
            found.append(f"{path}:{line} imports {module} (layer {layer} {rule})")
    return found


def first_party_modules() -> Iterator[Path]:
    for package in ALLOWED:
        yield from sorted((REPO / package).rglob("*.py"))


def test_every_package_is_in_the_table():
    # A new top-level package must be placed in a layer, or its imports would go unchecked.
    packages = {path.parent.name for path in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED)


def test_every_import_follows_the_layers():
    found = []
    for path in first_party_modules():
        relative = path.relative_to(REPO).as_posix()
        found += violations(relative, path.read_text(encoding="utf-8"))
    assert not found, "imports against the layers (tests/test_layers.py):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        (
            "activities/sneaky.py",
            "import starters.cli\n",
            "activities/sneaky.py:1 imports starters.cli (layer activities may import only cadenza, workflows)",
        ),
        (
            "cadenza/x.py",
            "def f():\n    from workflows.models import Order\n",
            "cadenza/x.py:2 imports workflows.models (layer cadenza imports no other first-party package)",
        ),
        (
            "workflows/x.py",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from activities import orders\n",
            "workflows/x.py:3 imports activities (layer workflows may import only cadenza)",
        ),
        (
            "api/x.py",
            "from codec_server.app import serve\n",
            "api/x.py:1 imports codec_server.app (layer api may import only activities, cadenza, clients, workflows)",
        ),
        (
            "services/erp/x.py",
            "import starters.faultspec as spec\n",
            "services/erp/x.py:1 imports starters.faultspec (layer services may import only cadenza)",
        ),
    ],
)
def test_a_back_import_is_reported(path, source, expected):
    assert violations(path, source) == [expected]


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("activities/x.py", "from workflows.models import Order\nimport cadenza.settings\nimport httpx\n"),
        ("starters/x.py", "from workers.worker import main\nfrom clients.catalogue import SkuCatalogue\n"),
        ("api/sub/x.py", "from . import y\nfrom ..z import w\n"),  # relative: within its own package
    ],
)
def test_allowed_imports_pass(path, source):
    assert violations(path, source) == []
