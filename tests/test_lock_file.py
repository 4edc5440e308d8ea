"""The dependencies are locked (requirements/*.txt: exact versions with hashes, `make lock`), the lock is in step with
pyproject.toml, `make install` (so CI) and the Docker image install from it and nothing else, and CI audits it.

A dependency added to pyproject.toml without `make lock` fails here, before anything installs an unpinned release.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
RUNTIME_LOCK = REPO_ROOT / "requirements" / "runtime.txt"
TEST_LOCK = REPO_ROOT / "requirements" / "test.txt"
RELOCK = "run `make lock` and commit requirements/"


def _audit_module():
    spec = importlib.util.spec_from_file_location("audit_lock", REPO_ROOT / ".ci" / "audit_lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit_lock = _audit_module()


def _pins(lock: Path) -> dict[str, str]:
    return {canonicalize_name(name): version for name, version in audit_lock.pins(lock).items()}


def _requirements(*groups: list[str]) -> list[Requirement]:
    return [Requirement(line) for group in groups for line in group]


RUNTIME = _requirements(PYPROJECT["project"]["dependencies"])
TEST = _requirements(PYPROJECT["project"]["optional-dependencies"]["test"])


@pytest.mark.parametrize(
    ("lock", "requirements"), [(RUNTIME_LOCK, RUNTIME), (TEST_LOCK, RUNTIME + TEST)], ids=["runtime", "test"]
)
def test_every_dependency_of_pyproject_is_locked_at_an_allowed_version(lock, requirements):
    pinned = _pins(lock)
    missing = [str(r) for r in requirements if canonicalize_name(r.name) not in pinned]
    assert not missing, f"{lock.name} lacks {missing}: {RELOCK}"
    outside = [
        f"{r} (locked {pinned[canonicalize_name(r.name)]})"
        for r in requirements
        if not r.specifier.contains(pinned[canonicalize_name(r.name)], prereleases=True)
    ]
    assert not outside, f"{lock.name} pins versions pyproject.toml no longer allows: {outside}; {RELOCK}"


def test_the_image_runs_the_versions_ci_tests():
    runtime, test = _pins(RUNTIME_LOCK), _pins(TEST_LOCK)
    differ = {name: (version, test.get(name)) for name, version in runtime.items() if test.get(name) != version}
    assert not differ, f"runtime and test locks disagree: {differ}; {RELOCK}"


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, TEST_LOCK], ids=["runtime", "test"])
def test_every_pin_carries_hashes(lock):
    entries = re.split(r"\n(?=[A-Za-z0-9])", lock.read_text().split("\n", 2)[2])
    unhashed = [entry.split()[0] for entry in entries if "==" in entry and "--hash=sha256:" not in entry]
    assert not unhashed, f"pins without hashes in {lock.name}: {unhashed}; {RELOCK}"


def test_make_install_installs_the_lock_and_only_the_lock():
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^LOCK := requirements/test\.txt$", makefile, re.MULTILINE)
    assert "pip install --quiet --require-hashes --no-deps -r $(LOCK)" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile, "the project itself must not resolve dependencies again"
    assert re.search(r"^\$\(STAMP\): pyproject\.toml \$\(LOCK\)$", makefile, re.MULTILINE), "a new lock reinstalls"


def test_the_image_installs_the_runtime_lock_and_only_the_lock():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "COPY requirements/runtime.txt" in dockerfile
    assert "pip install --require-hashes --no-deps -r /tmp/requirements.txt" in dockerfile
    installs = re.findall(r"pip install [^\n]*", dockerfile)
    assert all("--no-deps" in line for line in installs), f"every install must take the locked versions: {installs}"


def test_ci_audits_the_lock():
    assert re.search(r"^make audit$", (REPO_ROOT / ".ci" / "run").read_text(), re.MULTILINE), ".ci/run must run it"
    assert "bash .ci/audit" in (REPO_ROOT / "Makefile").read_text()
    assert "audit_lock.py requirements/test.txt" in (REPO_ROOT / ".ci" / "audit").read_text()


def test_the_audit_fails_on_a_known_vulnerability_and_says_what_to_do(monkeypatch, capsys, tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("jinja2==2.10 \\\n    --hash=sha256:00\nidna==3.21 \\\n    --hash=sha256:00\n")
    advisory = {"id": "GHSA-462w-v97r-4m45", "aliases": ["CVE-2019-10906"], "fix_versions": ["2.10.1"]}
    monkeypatch.setattr(audit_lock, "pip_audit", lambda _: {"jinja2": [advisory], "idna": []})
    assert audit_lock.main(lock) == 1
    out = capsys.readouterr().out
    assert "jinja2 2.10: GHSA-462w-v97r-4m45 (CVE-2019-10906); fixed in: 2.10.1" in out
    assert 'make lock LOCK_FLAGS="--upgrade-package jinja2"' in out


def test_the_audit_passes_without_vulnerabilities_and_warns_when_it_could_check_nothing(monkeypatch, capsys, tmp_path):
    lock = tmp_path / "lock.txt"
    lock.write_text("idna==3.21 \\\n    --hash=sha256:00\n")
    monkeypatch.setattr(audit_lock, "pip_audit", lambda _: {"idna": []})
    assert audit_lock.main(lock) == 0 and "No known vulnerabilities in the 1 audited" in capsys.readouterr().out
    monkeypatch.setattr(audit_lock, "pip_audit", lambda _: None)
    monkeypatch.setattr(audit_lock, "fallback", lambda locked: ({}, {"idna": "PyPI did not answer"}))
    assert audit_lock.main(lock) == 0 and "WARNING: nothing could be audited" in capsys.readouterr().out
