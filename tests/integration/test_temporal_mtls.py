"""Certificates from `cadenza certs create` carry a Cadenza process to Temporal over mutual TLS, configured only by
the TEMPORAL_TLS_* variables compose and Kubernetes set; a client without a certificate from that CA is refused at
the handshake.

The dev server cannot do TLS itself (`temporal server start-dev` has no TLS options), so tests/integration/
mtls_proxy.py terminates mutual TLS in front of it, verifying client certificates as a frontend with
`requireClientAuth` does. What this proves: the generated chain, names and key usages are accepted by the SDK's
client (rustls) and by a verifying server (OpenSSL), and Cadenza's connection reads TLS from envconfig alone. The
frontend's own TLS settings are checked where they are written (tests/test_docker_compose.py, tests/deploy).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest

from cadenza import connection
from cadenza.binaries import temporal_cli
from cadenza.connection import TemporalUnavailable, connect
from cadenza.settings import EMBEDDED_ENV
from cadenza.stack import EmbeddedStack
from starters.certs import create_certificates
from tests.integration.mtls_proxy import MutualTlsProxy

pytestmark = pytest.mark.integration

NAMESPACE_JOB = Path(__file__).resolve().parents[2] / "deploy" / "temporal" / "scripts" / "create-namespace.sh"
TLS_VARIABLES = (
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_API_KEY",
    "TEMPORAL_PROFILE",
    "TEMPORAL_TLS",
)


def _certificates(folder: Path) -> Path:
    create_certificates(folder, hosts=["localhost", "127.0.0.1"], components=["worker"])
    return folder


@pytest.fixture
def tls_environment(monkeypatch, tmp_path):
    """Only what a deployment sets: the address, the namespace and TEMPORAL_TLS_* (no profile file, not embedded)."""
    for name in TLS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(EMBEDDED_ENV, raising=False)
    monkeypatch.setenv(connection.CONFIG_FILE_ENV, str(tmp_path / "no-such-temporal.toml"))
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")

    def use(address: str, server_ca: Path, client: Path | None) -> None:
        """`client`: the certificate's path without suffix (`<folder>/worker`), or None for no client certificate."""
        monkeypatch.setenv("TEMPORAL_ADDRESS", address)
        monkeypatch.setenv("TEMPORAL_TLS_SERVER_CA_CERT_PATH", str(server_ca))
        if client is not None:
            monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", f"{client}.pem")
            monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", f"{client}.key")

    return use


def _front(stack: EmbeddedStack, certs: Path) -> MutualTlsProxy:
    return MutualTlsProxy(
        stack.config.temporal_address, cert=certs / "server.pem", key=certs / "server.key", client_ca=certs / "ca.pem"
    )


async def _connect(stack: EmbeddedStack):
    return await connect(service_name="mtls-test", converter=stack.config.data_converter(), traced=False)


async def test_a_client_with_its_certificate_reaches_temporal(stack: EmbeddedStack, tmp_path, tls_environment):
    certs = _certificates(tmp_path / "tls")
    async with _front(stack, certs) as proxy:
        tls_environment(proxy.address, certs / "ca.pem", certs / "worker")
        client = await _connect(stack)
        assert await client.service_client.check_health()
        described = await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace="default"))
        assert described.namespace_info.name == "default"
    assert proxy.accepted and set(proxy.accepted) == {"worker"}, "the server must see the component's own certificate"


async def test_no_client_certificate_is_refused(stack: EmbeddedStack, tmp_path, tls_environment):
    certs = _certificates(tmp_path / "tls")
    async with _front(stack, certs) as proxy:
        tls_environment(proxy.address, certs / "ca.pem", None)
        with pytest.raises(TemporalUnavailable, match="Cannot reach Temporal"):
            await _connect(stack)
    assert proxy.refused and not proxy.accepted


async def test_a_certificate_from_another_ca_is_refused(stack: EmbeddedStack, tmp_path, tls_environment):
    ours, theirs = _certificates(tmp_path / "ours"), _certificates(tmp_path / "theirs")
    async with _front(stack, ours) as proxy:
        # The client trusts our server, but its own certificate was signed by a CA our server does not know.
        tls_environment(proxy.address, ours / "ca.pem", theirs / "worker")
        with pytest.raises(TemporalUnavailable, match="Cannot reach Temporal"):
            await _connect(stack)
    assert proxy.refused and not proxy.accepted


async def test_the_compose_namespace_job_registers_a_namespace_over_mtls(stack: EmbeddedStack, tmp_path):
    """deploy/temporal/scripts/create-namespace.sh, as docker-compose.yml runs it, with the `temporal` CLI and the
    admin certificate: it reaches a frontend that demands client certificates."""
    certs = tmp_path / "tls"
    create_certificates(certs, hosts=["localhost", "127.0.0.1"], components=["temporal-admin"])
    binary, _ = temporal_cli()
    namespace = f"mtls-{uuid.uuid4().hex[:8]}"
    async with _front(stack, certs) as proxy:
        job = await asyncio.create_subprocess_exec(
            "sh",
            str(NAMESPACE_JOB),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={
                "PATH": f"{Path(binary).parent}:{os.environ['PATH']}",
                "HOME": str(tmp_path),
                "TEMPORAL_ADDRESS": proxy.address,
                "TEMPORAL_NAMESPACE": namespace,
                "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(certs / "ca.pem"),
                "TEMPORAL_TLS_CLIENT_CERT_PATH": str(certs / "temporal-admin.pem"),
                "TEMPORAL_TLS_CLIENT_KEY_PATH": str(certs / "temporal-admin.key"),
            },
        )
        output, _ = await asyncio.wait_for(job.communicate(), timeout=120)
    assert job.returncode == 0, output.decode()
    assert f"namespace {namespace} created" in output.decode()
    assert set(proxy.accepted) == {"temporal-admin"}
