"""The development service token (`cadenza-dev-token`, public: it is in the repository) goes only to the embedded
stack's own services. A process pointed at a service elsewhere without a token refuses to start, naming the variable,
instead of calling that service with a token anyone with a clone knows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cadenza.settings import DEFAULT_SERVICE_TOKEN, EMBEDDED_ENV, SERVICE_NAMES, ServiceTokenMissing, service_endpoint

TOKEN_VARIABLES = ("CADENZA_SERVICE_TOKEN", *(f"CADENZA_{name.upper()}_TOKEN" for name in SERVICE_NAMES))
URL_VARIABLES = tuple(f"CADENZA_{name.upper()}_URL" for name in SERVICE_NAMES)


@pytest.fixture(autouse=True)
def no_service_settings(monkeypatch):
    for name in (*TOKEN_VARIABLES, *URL_VARIABLES, EMBEDDED_ENV):
        monkeypatch.delenv(name, raising=False)


def test_the_embedded_stacks_own_services_get_the_development_token():
    assert service_endpoint("erp").token == DEFAULT_SERVICE_TOKEN


def test_a_service_elsewhere_without_a_token_refuses_to_start(monkeypatch):
    monkeypatch.setenv("CADENZA_ERP_URL", "https://erp.example.com")
    with pytest.raises(ServiceTokenMissing) as refused:
        service_endpoint("erp")
    message = str(refused.value)
    assert "CADENZA_ERP_TOKEN" in message and "CADENZA_SERVICE_TOKEN" in message, message


@pytest.mark.parametrize("variable", ["CADENZA_ERP_TOKEN", "CADENZA_SERVICE_TOKEN"])
def test_a_configured_token_is_used(monkeypatch, variable):
    monkeypatch.setenv("CADENZA_ERP_URL", "https://erp.example.com")
    monkeypatch.setenv(variable, "s3cret")
    assert service_endpoint("erp").token == "s3cret"


def test_an_empty_token_counts_as_none(monkeypatch):
    monkeypatch.setenv("CADENZA_ERP_URL", "https://erp.example.com")
    monkeypatch.setenv("CADENZA_SERVICE_TOKEN", " ")
    with pytest.raises(ServiceTokenMissing):
        service_endpoint("erp")


def test_processes_of_the_embedded_stack_keep_the_development_token(monkeypatch):
    monkeypatch.setenv("CADENZA_ERP_URL", "http://127.0.0.1:8101")
    monkeypatch.setenv(EMBEDDED_ENV, "1")
    assert service_endpoint("erp").token == DEFAULT_SERVICE_TOKEN


def test_the_worker_refuses_to_start_before_connecting_anywhere():
    env = {k: v for k, v in os.environ.items() if k not in (*TOKEN_VARIABLES, *URL_VARIABLES, EMBEDDED_ENV)}
    env |= {"CADENZA_PAYMENT_URL": "https://payment.example.com", "TEMPORAL_ADDRESS": "127.0.0.1:9"}
    worker = subprocess.run(
        [sys.executable, "-m", "workers"], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert worker.returncode != 0
    assert "CADENZA_PAYMENT_TOKEN" in worker.stderr and "Cannot reach Temporal" not in worker.stderr, worker.stderr
