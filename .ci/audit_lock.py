"""Known vulnerabilities in the lock file: pip-audit first, PyPI's project documents where pip-audit cannot look.

pip-audit reads PyPI's per-release JSON (/pypi/NAME/VERSION/json). A network that serves only the project documents
(/pypi/NAME/json) makes it report every package "not found on PyPI": nothing checked, and a green run that means
nothing. A project document carries the advisories of the project's latest release, so every pin that *is* the latest
release is audited from there with the same data; the others are named as not audited.

Exit 1 only when a vulnerability is known (each named, with its fix and the command that applies it); exit 0 otherwise,
saying what could not be checked.

Usage: .venv/bin/python .ci/audit_lock.py requirements/test.txt
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
Advisory = dict[str, object]


def pins(lock: Path) -> dict[str, str]:
    return {name.lower(): version for name, version in PIN.findall(lock.read_text())}


def pip_audit(lock: Path) -> dict[str, list[Advisory]] | None:
    """Package -> advisories for every package pip-audit could audit; None when it audited nothing."""
    with tempfile.NamedTemporaryFile(suffix=".json") as report:
        run = subprocess.run(
            [
                str(Path(sys.executable).with_name("pip-audit")),
                "--requirement",
                str(lock),
                "--require-hashes",
                "--disable-pip",
                "--vulnerability-service",
                "pypi",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                report.name,
            ],
            capture_output=True,
            text=True,
        )
        try:
            found = json.loads(Path(report.name).read_text())["dependencies"]
        except (ValueError, KeyError):
            print(f"pip-audit did not run (exit {run.returncode}): {run.stderr.strip()[-500:]}")
            return None
    audited = {dep["name"].lower(): dep["vulns"] for dep in found if "skip_reason" not in dep}
    return audited or None


def from_project_document(http: httpx.Client, name: str, version: str) -> list[Advisory] | str:
    """The advisories of `name` `version` if it is the project's latest release, else why it cannot be audited."""
    try:
        answer = http.get(PYPI_PROJECT.format(name=name))
        answer.raise_for_status()
        document = answer.json()
    except (httpx.HTTPError, ValueError) as err:
        return f"PyPI did not answer ({err})"
    latest = document["info"]["version"]
    if latest != version:
        return f"pinned {version}, latest {latest}"
    return [
        {"id": v["id"], "aliases": v.get("aliases") or [], "fix_versions": v.get("fixed_in") or []}
        for v in document.get("vulnerabilities") or []
        if not v.get("withdrawn")
    ]


def fallback(locked: dict[str, str]) -> tuple[dict[str, list[Advisory]], dict[str, str]]:
    print(f"==> pip-audit could audit nothing here; reading {len(locked)} PyPI project documents instead")
    audited, not_audited = {}, {}
    with httpx.Client(timeout=20, follow_redirects=True) as http, ThreadPoolExecutor(8) as pool:
        results = pool.map(lambda item: (item[0], from_project_document(http, *item)), locked.items())
        for done, (name, result) in enumerate(results, 1):
            if isinstance(result, str):
                not_audited[name] = result
            else:
                audited[name] = result
            if done % 25 == 0 or done == len(locked):
                print(f"    {done}/{len(locked)} read")
    return audited, not_audited


def main(lock: Path) -> int:
    locked = pins(lock)
    print(
        f"==> Auditing the {len(locked)} packages pinned in {lock} for known vulnerabilities "
        "(pip-audit, PyPI advisories)"
    )
    audited = pip_audit(lock)
    not_audited: dict[str, str] = {}
    if audited is None:
        audited, not_audited = fallback(locked)
    else:
        not_audited = {name: "skipped by pip-audit" for name in locked if name not in audited}
    if not_audited:
        print(
            f"Not audited ({len(not_audited)}): " + "; ".join(f"{n} ({why})" for n, why in sorted(not_audited.items()))
        )
        print("    (a newer release exists for these; `make lock LOCK_FLAGS=--upgrade` moves the lock to them)")
    vulnerable = {name: vulns for name, vulns in audited.items() if vulns}
    if not audited:
        print(
            "WARNING: nothing could be audited (PyPI unreachable?). "
            "Run `make audit` again later; not failing the build."
        )
        return 0
    if not vulnerable:
        print(f"No known vulnerabilities in the {len(audited)} audited packages.")
        return 0
    print(f"KNOWN VULNERABILITIES in {len(vulnerable)} locked package(s):")
    for name, vulns in sorted(vulnerable.items()):
        for vuln in vulns:
            aliases = f" ({', '.join(vuln['aliases'])})" if vuln.get("aliases") else ""
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            print(f"  {name} {locked[name]}: {vuln['id']}{aliases}; fixed in: {fixed}")
    upgrades = " ".join(f"--upgrade-package {name}" for name in sorted(vulnerable))
    print("What to do: move to a fixed release, relock, test, and commit requirements/:")
    print(f'  make lock LOCK_FLAGS="{upgrades}" && make install && make test')
    print("No fixed release yet: replace the package, or raise its lower bound in pyproject.toml once one exists.")
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements/test.txt")))
