"""Each simulated service's OpenAPI document as a file saga definitions refer to: `examples/sagas/openapi/<name>.json`.

``python -m services.openapi --write`` (or ``make openapi``) writes them; ``--check`` (the default) exits 1 naming each
file that differs from what its app serves at ``/openapi.json``. tests/services/test_openapi_files.py runs the check.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from cadenza.settings import ALL_SERVICE_NAMES

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "examples" / "sagas" / "openapi"
"""Where the documents live, beside the saga definitions that name their operations."""

REGENERATE = "python -m services.openapi --write (or make openapi)"


def document(service: str) -> dict[str, Any]:
    """The OpenAPI document ``services.<service>`` serves, from an app over a throwaway database."""
    with tempfile.TemporaryDirectory(prefix=f"cadenza-openapi-{service}-") as scratch:
        app = importlib.import_module(f"services.{service}").create_app(Path(scratch) / "openapi.db", token="unused")
        doc: dict[str, Any] = app.openapi()
        return doc


def rendered(service: str) -> str:
    """The file's exact text: two-space indented JSON in the app's own key order, one final newline."""
    return json.dumps(document(service), indent=2, ensure_ascii=False) + "\n"


def path_of(service: str, directory: Path = OPENAPI_DIR) -> Path:
    return directory / f"{service}.json"


def stale(directory: Path = OPENAPI_DIR) -> Iterator[str]:
    """The services whose file is missing or differs from the document their app serves."""
    for service in ALL_SERVICE_NAMES:
        target = path_of(service, directory)
        if not target.is_file() or target.read_text(encoding="utf-8") != rendered(service):
            yield service


def write(directory: Path = OPENAPI_DIR) -> list[Path]:
    """Write every service's document; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for service in ALL_SERVICE_NAMES:
        target = path_of(service, directory)
        target.write_text(rendered(service), encoding="utf-8")
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.openapi", description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help=f"write the documents into {OPENAPI_DIR}")
    action.add_argument("--check", action="store_true", help="exit 1 if a file differs from its app (the default)")
    args = parser.parse_args(argv)
    if args.write:
        for target in write():
            print(f"wrote {target}")
        return 0
    differing = list(stale())
    for service in differing:
        print(f"{path_of(service)} differs from the {service} app's document: run {REGENERATE}", file=sys.stderr)
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
