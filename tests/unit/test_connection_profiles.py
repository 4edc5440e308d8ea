"""The example connection profiles (examples/temporal.toml), loaded the way every Cadenza process loads them:
`temporalio.envconfig` with TEMPORAL_CONFIG_FILE + TEMPORAL_PROFILE, `TEMPORAL_*` variables on top, and what
`cadenza.connection.connect_config()` hands to `Client.connect` from that."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from cadenza.connection import TemporalConfigInvalid, connect_config
from cadenza.stack import StackConfig

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "temporal.toml"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No TEMPORAL_* of the developer's shell, and no ~/.config/temporalio/temporal.toml of theirs either."""
    for name in list(os.environ):
        if name.startswith("TEMPORAL_") or name == "CADENZA_TEMPORAL_PORT":
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def certificates(tmp_path) -> tuple[Path, Path]:
    """Throw-away client certificate and key files (envconfig reads their bytes; it does not parse them)."""
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\ntest-only certificate\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\ntest-only key\n-----END PRIVATE KEY-----\n")
    return cert, key


@pytest.fixture
def profiles(tmp_path, certificates, monkeypatch) -> Path:
    """examples/temporal.toml as shipped, but for the mTLS profile's certificate paths, pointed at throw-away files."""
    cert, key = certificates
    text = EXAMPLE.read_text()
    text = re.sub(r'client_cert_path = ".*"', f'client_cert_path = "{cert}"', text)
    text = re.sub(r'client_key_path = ".*"', f'client_key_path = "{key}"', text)
    copy = tmp_path / "temporal.toml"
    copy.write_text(text)
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(copy))
    return copy


def test_nothing_configured_means_the_embedded_dev_server():
    assert connect_config() == {"target_host": "localhost:7233", "namespace": "default"}


def test_default_profile_is_the_local_dev_server(profiles):
    assert connect_config() == {"target_host": "localhost:7233", "namespace": "default"}


def test_cloud_api_key_profile(profiles, monkeypatch):
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-api-key")
    config = connect_config()
    assert config["target_host"] == "orders.a1b2c.tmprl.cloud:7233"
    assert config["namespace"] == "orders.a1b2c"
    assert config["api_key"] == "replace-me-or-set-TEMPORAL_API_KEY"
    # TLS on, with the system's roots and no client certificate: what Temporal Cloud expects with an API key.
    assert isinstance(config["tls"], TLSConfig)
    assert (config["tls"].client_cert, config["tls"].client_private_key) == (None, None)


def test_cloud_mtls_profile_reads_the_certificate_files(profiles, certificates, monkeypatch):
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-mtls")
    config = connect_config()
    assert (config["target_host"], config["namespace"]) == ("orders.a1b2c.tmprl.cloud:7233", "orders.a1b2c")
    assert "api_key" not in config
    tls = config["tls"]
    assert isinstance(tls, TLSConfig)
    cert, key = certificates
    assert (tls.client_cert, tls.client_private_key) == (cert.read_bytes(), key.read_bytes())


def test_environment_variables_override_the_file(profiles, tmp_path, monkeypatch):
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-api-key")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "eu-west-1.aws.api.temporal.io:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "orders-staging.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "key-from-a-secret")
    config = connect_config()
    assert (config["target_host"], config["namespace"], config["api_key"]) == (
        "eu-west-1.aws.api.temporal.io:7233",
        "orders-staging.a1b2c",
        "key-from-a-secret",
    )
    # A certificate from the environment turns the API-key profile into an mTLS one, as the `temporal` CLI would.
    other_cert, other_key = tmp_path / "other.pem", tmp_path / "other.key"
    other_cert.write_text("other cert")
    other_key.write_text("other key")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(other_cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(other_key))
    tls = connect_config()["tls"]
    assert (tls.client_cert, tls.client_private_key) == (b"other cert", b"other key")


def test_environment_alone_needs_no_file(monkeypatch):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal-frontend.temporal:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "cadenza")
    assert connect_config() == {"target_host": "temporal-frontend.temporal:7233", "namespace": "cadenza"}


def test_tls_can_be_switched_off_from_the_environment(profiles, monkeypatch):
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-api-key")
    monkeypatch.setenv("TEMPORAL_TLS", "false")
    assert connect_config()["tls"] is False


def test_an_embedded_stacks_processes_ignore_the_shells_cloud_settings(profiles, monkeypatch):
    """`cadenza up` started from a shell set up for Temporal Cloud: its worker, API and CLI calls reach its own dev
    server in plain text (cadenza.stack sets EMBEDDED_ENV in their environment), no API key, no TLS."""
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-mtls")
    monkeypatch.setenv("TEMPORAL_API_KEY", "a-cloud-key")
    env = StackConfig(
        state_dir=Path("unused"),
        temporal_port=7999,
        ui_port=None,
        service_ports={"erp": 1, "payment": 2, "inventory": 3},
    ).client_env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert connect_config() == {"target_host": "127.0.0.1:7999", "namespace": "default"}


def test_unknown_profile_says_what_to_check(profiles, monkeypatch):
    monkeypatch.setenv("TEMPORAL_PROFILE", "prod")
    with pytest.raises(TemporalConfigInvalid, match=r"profile 'prod'.*TEMPORAL_CONFIG_FILE / TEMPORAL_PROFILE"):
        connect_config()


def test_missing_certificate_file_says_what_to_check(monkeypatch):
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(EXAMPLE))  # as shipped: /etc/cadenza/tls/… does not exist here
    monkeypatch.setenv("TEMPORAL_PROFILE", "cloud-mtls")
    with pytest.raises(TemporalConfigInvalid, match=r"client\.pem.*certificate paths"):
        connect_config()


def test_no_process_builds_its_own_connection():
    """Every Cadenza process connects through cadenza.connection (profiles, converter, plugins in one place); only
    the embedded stack's own readiness probe of the dev server it just started may call Client.connect."""
    allowed = {REPO / "cadenza" / "connection.py", REPO / "cadenza" / "stack.py"}
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("cadenza", "starters", "api", "workers", "codec_server", "activities", "services")
        for path in (REPO / folder).rglob("*.py")
        if path not in allowed and "Client.connect(" in path.read_text()
    ]
    assert offenders == []
