"""The build id a worker announces in its Worker Deployment version: `CADENZA_BUILD_ID`, else derived from the code.

Derived as `<package version>-<git short sha>` (e.g. `0.1.0-3f2a9c1d07b4`), or the version alone where there is no
git (an image built without `.git`). Two different builds must never share a build id: the server would pin new
orders to whichever worker polls, so images should set `CADENZA_BUILD_ID` explicitly (the image tag, the commit).
`-` rather than semver's `+`: the id also ends up in image tags and Kubernetes labels, which refuse `+`.

Computed once per process, by the worker at start-up — never in workflow code, which must not run a subprocess.
"""

from __future__ import annotations

import functools
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from cadenza.settings import configured_build_id

_SOURCE_ROOT = Path(__file__).resolve().parent.parent
_GIT_TIMEOUT_SECONDS = 5


def package_version() -> str:
    try:
        return version("cadenza")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def git_revision(root: Path = _SOURCE_ROOT) -> str | None:
    """The short commit of the source tree, or None without git (no binary, not a checkout, or git refusing)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    revision = done.stdout.strip()
    return revision if done.returncode == 0 and revision else None


def derive_build_id(package: str, revision: str | None) -> str:
    return f"{package}-{revision}" if revision else package


@functools.cache
def build_id() -> str:
    """This process's build id (cached: git is asked at most once per process)."""
    return configured_build_id() or derive_build_id(package_version(), git_revision())
