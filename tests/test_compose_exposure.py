"""docker-compose.yml exposes nothing beyond this machine and holds no password, and Temporal's frontend admits only
processes with a client certificate from the development CA; `cadenza compose-secrets` makes exactly the files the
compose file mounts.

The file is read with PyYAML (anchors merged, `${...}` left as written), so these checks run without docker-compose;
tests/test_docker_compose.py validates the same file with Compose itself.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from starters.compose_secrets import (
    COMPOSE_COMPONENTS,
    COMPOSE_HOSTS,
    DB_PASSWORD_FILE,
    TLS_FOLDER,
    compose_secret_files,
    create_compose_secrets,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
READ_SECRET = REPO_ROOT / "deploy" / "temporal" / "scripts" / "read-secret.sh"
LOOPBACK = "127.0.0.1"
GENERATED = "./deploy/secrets/generated"
DB_SECRET = "temporal-db-password"
# Who talks to Temporal's frontend, and the certificate (component) each presents.
FRONTEND_CLIENTS = {"worker": "worker", "api": "api", "cli": "cli", "temporal-namespace": "temporal-admin"}
SECRET_WORDS = re.compile(r"PASSWORD|PWD|SECRET|TOKEN", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _published(entry: str | dict[str, Any]) -> tuple[str | None, str]:
    """(host ip or None, the entry as written) of one `ports:` entry, short or long syntax."""
    if isinstance(entry, dict):
        return entry.get("host_ip"), str(entry)
    parts = str(entry).split(":")
    return (":".join(parts[:-2]) or None) if len(parts) >= 3 else None, str(entry)


def _secret_names(service: dict[str, Any]) -> set[str]:
    return {entry if isinstance(entry, str) else entry["source"] for entry in service.get("secrets", [])}


def test_every_published_port_binds_loopback(compose):
    """A port without a host address is published on every interface: other machines on the network reach it."""
    open_ports = [
        f"{name}: {written}"
        for name, service in compose["services"].items()
        for host, written in map(_published, service.get("ports", []))
        if host != LOOPBACK
    ]
    assert not open_ports, f'publish these on {LOOPBACK} only ("{LOOPBACK}:HOST:CONTAINER"): {open_ports}'


def test_host_network_services_listen_on_loopback(compose):
    """A service in the host's network namespace publishes nothing, but listens on the host itself."""
    for name, service in compose["services"].items():
        if service.get("network_mode") == "host":
            command = service["command"]
            assert command[command.index("--host") + 1] == LOOPBACK, name


def test_no_password_or_token_is_written_in_the_file(compose):
    """Secrets come from files (`*_FILE` variables, compose `secrets:`); a value here is readable by `docker inspect`
    and by everyone with the repository, and a `${VAR:-default}` is a password everyone knows."""
    written = [
        f"{name}: {key}={value}"
        for name, service in compose["services"].items()
        for key, value in (service.get("environment") or {}).items()
        if SECRET_WORDS.search(key) and not key.endswith("_FILE") and "temporal" in str(value).lower()
    ]
    assert not written, f"take these from a secret file instead: {written}"
    assert "TEMPORAL_DB_PASSWORD" not in COMPOSE_FILE.read_text(), "the old password variable (default `temporal`)"


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("postgresql", "POSTGRES_PASSWORD_FILE"),
        ("temporal-schema", "SQL_PASSWORD_FILE"),
        ("temporal", "POSTGRES_PWD_FILE"),
    ],
)
def test_the_database_password_is_a_compose_secret(compose, service, variable):
    definition = compose["services"][service]
    assert DB_SECRET in _secret_names(definition), f"{service} must mount the secret {DB_SECRET}"
    assert definition["environment"][variable] == f"/run/secrets/{DB_SECRET}"
    assert not {"POSTGRES_PASSWORD", "SQL_PASSWORD", "POSTGRES_PWD"} & set(definition["environment"]), service


def test_the_frontend_demands_client_certificates(compose):
    env = compose["services"]["temporal"]["environment"]
    assert env["TEMPORAL_TLS_REQUIRE_CLIENT_AUTH"] == "true"
    assert env["TEMPORAL_TLS_FRONTEND_CERT"] == "/run/secrets/temporal-server-cert"
    assert env["TEMPORAL_TLS_CLIENT1_CA_CERT"] == env["TEMPORAL_TLS_CLIENT2_CA_CERT"] == "/run/secrets/temporal-ca"
    assert env["TEMPORAL_TLS_FRONTEND_SERVER_NAME"] in COMPOSE_HOSTS, "the server's own clients check this name"


@pytest.mark.parametrize(("service", "component"), FRONTEND_CLIENTS.items())
def test_every_frontend_client_presents_its_own_certificate(compose, service, component):
    definition = compose["services"][service]
    env = definition["environment"]
    short = component.removeprefix("temporal-")
    assert env["TEMPORAL_TLS_CLIENT_CERT_PATH"] == f"/run/secrets/temporal-{short}-cert"
    assert env["TEMPORAL_TLS_CLIENT_KEY_PATH"] == f"/run/secrets/temporal-{short}-key"
    assert env["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] == "/run/secrets/temporal-ca"
    assert {"temporal-ca", f"temporal-{short}-cert", f"temporal-{short}-key"} <= _secret_names(definition)
    host = env["TEMPORAL_ADDRESS"].rsplit(":", 1)[0]
    assert host in COMPOSE_HOSTS, f"{service} connects to {host!r}, a name the server certificate does not carry"


def test_the_web_ui_presents_its_certificate(compose):
    ui = compose["services"]["temporal-ui"]
    env = ui["environment"]
    assert (env["TEMPORAL_TLS_CERT"], env["TEMPORAL_TLS_KEY"]) == (
        "/run/secrets/temporal-ui-cert",
        "/run/secrets/temporal-ui-key",
    )
    assert env["TEMPORAL_TLS_SERVER_NAME"] in COMPOSE_HOSTS and env["TEMPORAL_TLS_ENABLE_HOST_VERIFICATION"] == "true"


def test_the_secrets_are_the_files_compose_secrets_makes(compose):
    """Every generated file but the CA's key is mounted somewhere; the CA's key nowhere (no container can sign)."""
    files = {spec["file"] for spec in compose["secrets"].values() if spec["file"].startswith(GENERATED)}
    made = {f"./{path}" for path in compose_secret_files(Path(GENERATED.removeprefix("./")))}
    ca_key = f"{GENERATED}/{TLS_FOLDER}/ca.key"
    assert files == made - {ca_key}


def test_the_worker_serves_metrics_to_the_compose_network_only(compose):
    worker = compose["services"]["worker"]
    assert worker["environment"]["CADENZA_METRICS_HOST"] == "0.0.0.0" and "ports" not in worker


def test_compose_secrets_writes_a_private_folder_and_keeps_what_exists(tmp_path):
    out = tmp_path / "generated"
    first = create_compose_secrets(out)
    assert sorted(first) == sorted(compose_secret_files(out))
    assert out.stat().st_mode & 0o777 == 0o700 and (out / TLS_FOLDER).stat().st_mode & 0o777 == 0o700
    assert (out / TLS_FOLDER / "ca.key").stat().st_mode & 0o777 == 0o600, "the CA's key is never mounted"
    assert len((out / DB_PASSWORD_FILE).read_text()) >= 32
    server = x509.load_pem_x509_certificate((out / TLS_FOLDER / "server.pem").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(COMPOSE_HOSTS) == {str(getattr(name.value, "exploded", name.value)) for name in names}
    subjects = {
        x509.load_pem_x509_certificate((out / TLS_FOLDER / f"{c}.pem").read_bytes()).subject.rfc4514_string()
        for c in COMPOSE_COMPONENTS
    }
    assert len(subjects) == len(COMPOSE_COMPONENTS), "one certificate per component"
    password = (out / DB_PASSWORD_FILE).read_text()
    assert create_compose_secrets(out) == [] and (out / DB_PASSWORD_FILE).read_text() == password


def test_read_secret_exports_a_file_and_names_the_fix_when_it_is_missing(tmp_path):
    secret = tmp_path / "password"
    secret.write_text("s3cret")
    script = f'. "{READ_SECRET}"; export_secret PASSWORD PASSWORD_FILE; printf %s "$PASSWORD"'
    read = subprocess.run(["sh", "-c", script], env={"PASSWORD_FILE": str(secret)}, capture_output=True, text=True)
    assert (read.returncode, read.stdout) == (0, "s3cret")
    missing = subprocess.run(["sh", "-c", script], env={}, capture_output=True, text=True)
    assert missing.returncode == 1 and "make compose-secrets" in missing.stderr


@pytest.mark.parametrize(
    "command", [["compose-secrets", "--out"], ["certs", "create"]], ids=["compose-secrets", "certs"]
)
@pytest.mark.parametrize("out", ["a file", "below a file"])
def test_an_output_folder_that_cannot_be_made_is_refused_with_exit_2(tmp_path, command, out):
    """`compose-secrets --out` and `certs create` once ended with `error: [Errno 17] File exists` and exit 1, as for
    a bug."""
    taken = tmp_path / "taken"
    taken.write_text("not a folder\n")
    target = taken if out == "a file" else taken / "secrets"
    run = subprocess.run(
        [sys.executable, "-m", "starters.cli", *command, str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{target} is not a folder" in run.stderr and "Traceback" not in run.stderr
    assert taken.read_text() == "not a folder\n"
