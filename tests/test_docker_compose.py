"""docker-compose.yml is valid Compose and has the promised topology; no Docker engine needed.

Two validators: `docker-compose config` (the Debian `docker-compose` package, 1.29, or the `docker compose` plugin
where only that exists; neither installed: skipped locally, but a failure under CI (env var CI set), so CI can never
pass by silently skipping this check), and the compose specification's JSON schema as shipped inside
check-jsonschema (`--builtin-schema vendor.compose-spec`; a test dependency, so it always runs). The topology checks
read the configuration as `config` resolves it (anchors merged, variables at their defaults).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from cadenza.codec import KEYS_FILE_ENV, KeyRing
from cadenza.shutdown import WORKER_STOP_TIMEOUT_SECONDS

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"

EXPECTED_SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-namespace",
    "temporal-ui",
    "erp",
    "payment",
    "inventory",
    "worker",
    "api",
    "cli",
    "codec-server",
    "jaeger",
    "prometheus",
}
# Every process that reads or writes order payloads through Temporal, so needs the encryption keys.
KEY_HOLDERS = ("worker", "api", "cli", "codec-server")
# Every Temporal client: it must not start before the namespace it uses exists.
TEMPORAL_CLIENTS = ("worker", "api", "cli")
KEYS_SECRET = "cadenza-encryption-keys"
# The image Temporal deprecated; spelled in two pieces so that this file is not itself a hit of the search below.
DEPRECATED_IMAGE = "auto" + "-setup"
# An exact release: two or three numeric parts, optionally after a `v` (postgres 16.10, temporalio/server 1.32.0).
EXACT_TAG = re.compile(r"v?\d+\.\d+(\.\d+)?")

INSTALL_HINT = (
    "docker-compose is not installed, so docker-compose.yml cannot be validated. Install it with "
    "`apt-get update && apt-get install -y --no-install-recommends docker-compose` (Debian/Ubuntu; "
    "no Docker engine needed), or install Docker's `docker compose` plugin."
)

Compose = Callable[..., subprocess.CompletedProcess[str]]


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_compose() -> list[str] | None:
    """The Compose command line to use: `docker-compose`, else a working `docker compose` plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


@pytest.fixture(scope="module")
def compose() -> Compose:
    """Runs `<compose> -f docker-compose.yml ARGS...` from the repo root and returns the finished process."""
    command = find_compose()
    if command is None:
        if running_in_ci():
            pytest.fail(f"{INSTALL_HINT} (CI is set: this check must run, not skip.)")
        pytest.skip(INSTALL_HINT)
    # Settings from the caller's shell must not change what is checked.
    env = {name: value for name, value in os.environ.items() if not name.startswith("COMPOSE_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), *args],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return run


@pytest.fixture(scope="module")
def rendered_config(compose: Compose) -> str:
    """The resolved configuration as `config` prints it (YAML); exit 0 means the file is valid."""
    result = compose("config")
    assert result.returncode == 0, f"docker-compose.yml is invalid:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def services(rendered_config: str) -> dict[str, dict[str, Any]]:
    """Each service as `config` resolved it, by name."""
    return yaml.safe_load(rendered_config)["services"]


def service_keys(config_text: str, service: str) -> set[str]:
    """Top-level keys of one service in `config` output."""
    found = yaml.safe_load(config_text)["services"].get(service)
    assert found is not None, f"service {service!r} not found in the rendered config:\n{config_text}"
    return set(found)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency → condition (`config` writes the long form; a bare list means service_started)."""
    entries = service.get("depends_on", {})
    if isinstance(entries, list):
        return dict.fromkeys(entries, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in entries.items()}


def secret_names(service: dict[str, Any]) -> set[str]:
    return {entry if isinstance(entry, str) else entry["source"] for entry in service.get("secrets", [])}


def seconds(duration: str) -> float:
    """A Compose duration such as `30s`, `1m30s`."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert parts and duration, f"not a Compose duration: {duration!r}"
    hours, minutes, secs = (float(p) if p else 0.0 for p in parts.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=secs).total_seconds()


def test_file_is_valid_compose(rendered_config: str) -> None:
    assert "services:" in rendered_config


def test_declares_every_service(compose: Compose) -> None:
    result = compose("config", "--services")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert services >= EXPECTED_SERVICES, f"missing services: {sorted(EXPECTED_SERVICES - services)}"


def test_cli_is_a_one_off_behind_a_profile(compose: Compose, rendered_config: str) -> None:
    result = compose("config", "--profiles")
    assert result.returncode == 0, result.stderr
    assert "cli" in result.stdout.split()
    assert "profiles" in service_keys(rendered_config, "cli")


def test_worker_can_be_scaled(rendered_config: str) -> None:
    """`--scale worker=N` needs a worker without a fixed container name or host port."""
    keys = service_keys(rendered_config, "worker")
    assert "container_name" not in keys
    assert "ports" not in keys
    assert {"image", "build", "command", "environment"} <= keys


def test_no_obsolete_version_key() -> None:
    top_level = [line for line in COMPOSE_FILE.read_text().splitlines() if line and line[0] not in " #"]
    assert not any(line.startswith("version:") for line in top_level), "drop the obsolete `version:` key"


def test_matches_the_compose_specification() -> None:
    """The compose spec's own JSON schema (vendored in check-jsonschema): catches keys `config` tolerates."""
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"docker-compose.yml breaks the compose specification:\n{report}"


def test_deprecated_image_is_gone_from_the_repository() -> None:
    """Temporal's all-in-one setup image is deprecated; no file (compose, docs, tests) may still point at it."""
    listing = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]  # tracked and about to be
    tracked = subprocess.run(listing, cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout.split("\0")
    hits = []
    for name in filter(None, tracked):
        path = REPO_ROOT / name
        if path.is_file() and DEPRECATED_IMAGE in path.read_text(errors="replace"):
            hits.append(name)
    assert not hits, f"{DEPRECATED_IMAGE} is still mentioned in: {hits}; use temporalio/server + admin-tools jobs"


def test_every_third_party_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    cadenza_image = services["worker"]["image"]
    for name, service in services.items():
        image = service["image"]
        if image == cadenza_image:
            continue  # built here from ./Dockerfile
        repository, _, tag = image.rpartition(":")
        assert repository and EXACT_TAG.fullmatch(tag), f"{name}: pin {image!r} to an exact release (no `latest`)"


def test_temporal_matches_the_bundled_dev_server(services: dict[str, dict[str, Any]]) -> None:
    """Server and admin-tools (which migrates the server's schema) on one 1.32 release, as `cadenza up` runs."""
    temporal_images = ("temporal", "temporal-schema", "temporal-namespace")
    tags = {services[name]["image"].rpartition(":")[2] for name in temporal_images}
    assert len(tags) == 1 and tags.pop().startswith("1.32."), "server and admin-tools must share one 1.32.x tag"
    assert services["temporal"]["image"].startswith("temporalio/server:")
    assert services["temporal-schema"]["image"].startswith("temporalio/admin-tools:")


def test_schema_job_runs_before_the_server(services: dict[str, dict[str, Any]]) -> None:
    assert depends_on(services["temporal-schema"]) == {"postgresql": "service_healthy"}
    assert depends_on(services["temporal"]).get("temporal-schema") == "service_completed_successfully"
    assert services["temporal-schema"].get("restart", "no") == "no", "a one-off job must not be restarted"


def test_clients_wait_for_the_namespace(services: dict[str, dict[str, Any]]) -> None:
    assert depends_on(services["temporal-namespace"]).get("temporal") == "service_healthy"
    for name in TEMPORAL_CLIENTS:
        assert depends_on(services[name]).get("temporal-namespace") == "service_completed_successfully", name


def test_every_key_holder_gets_the_keys_secret(services: dict[str, dict[str, Any]]) -> None:
    for name in KEY_HOLDERS:
        service = services[name]
        assert KEYS_SECRET in secret_names(service), f"{name} lacks the secret {KEYS_SECRET}"
        environment = service["environment"]
        assert environment.get(KEYS_FILE_ENV) == f"/run/secrets/{KEYS_SECRET}", name
        assert environment.get("CADENZA_ENCRYPTION") == "required", f"{name} would run without keys"


def test_the_committed_key_is_usable_and_marked_dev_only(rendered_config: str) -> None:
    secret_file = Path(yaml.safe_load(rendered_config)["secrets"][KEYS_SECRET]["file"])
    text = secret_file.read_text()
    assert "DEV ONLY" in text.splitlines()[0], "the committed key must say, first thing, that it is for development"
    ring = KeyRing.from_environment({KEYS_FILE_ENV: str(secret_file)})
    assert ring is not None and len(ring.keys) == 1


def test_web_ui_decodes_through_the_codec_server(services: dict[str, dict[str, Any]]) -> None:
    endpoint = services["temporal-ui"]["environment"]["TEMPORAL_CODEC_ENDPOINT"]
    codec = services["codec-server"]
    assert codec["command"][:2] == ["cadenza", "codec-server"]
    assert endpoint.endswith(":" + codec["command"][codec["command"].index("--port") + 1])
    ui_host_port = next(
        str(p["published"]) if isinstance(p, dict) else p.split(":")[-2] for p in services["temporal-ui"]["ports"]
    )
    origins = codec["environment"]["CADENZA_CODEC_CORS_ORIGINS"].split(",")
    assert f"http://localhost:{ui_host_port}" in origins, "the codec server must let the Web UI's origin call it"


def test_worker_outlasts_its_own_shutdown(services: dict[str, dict[str, Any]]) -> None:
    """Compose SIGKILLs after stop_grace_period: it must exceed the worker's drain + exit (cadenza.shutdown)."""
    assert seconds(str(services["worker"]["stop_grace_period"])) > WORKER_STOP_TIMEOUT_SECONDS
