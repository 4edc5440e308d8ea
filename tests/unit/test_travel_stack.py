"""The travel services in the embedded stack: `cadenza up` runs them on 8104-8106 unless a port is set to 0, and the
processes it starts learn where they are."""

from __future__ import annotations

import pytest

from cadenza.settings import ALL_SERVICE_NAMES, SERVICE_NAMES, TRAVEL_SERVICE_NAMES, service_endpoint
from cadenza.stack import StackConfig


@pytest.fixture(autouse=True)
def no_service_settings(monkeypatch):
    for name in ALL_SERVICE_NAMES:
        for suffix in ("PORT", "URL", "TOKEN"):
            monkeypatch.delenv(f"CADENZA_{name.upper()}_{suffix}", raising=False)
    monkeypatch.delenv("CADENZA_SERVICE_TOKEN", raising=False)


def test_the_stack_runs_the_travel_services_on_their_own_ports():
    config = StackConfig.from_settings()

    assert config.service_ports == {
        "erp": 8101,
        "payment": 8102,
        "inventory": 8103,
        "flight": 8104,
        "hotel": 8105,
        "car": 8106,
    }
    assert config.client_env()["CADENZA_HOTEL_URL"] == "http://127.0.0.1:8105"


def test_a_travel_service_on_port_zero_is_left_out(monkeypatch):
    monkeypatch.setenv("CADENZA_CAR_PORT", "0")
    monkeypatch.setenv("CADENZA_FLIGHT_PORT", "9104")

    config = StackConfig.from_settings()

    assert list(config.service_ports) == [*SERVICE_NAMES, "flight", "hotel"]
    assert config.service_ports["flight"] == 9104 and "CADENZA_CAR_URL" not in config.client_env()


@pytest.mark.parametrize("name", TRAVEL_SERVICE_NAMES)
def test_a_travel_service_elsewhere_is_configured_like_the_others(monkeypatch, name):
    monkeypatch.setenv(f"CADENZA_{name.upper()}_URL", f"https://{name}.example.com")
    monkeypatch.setenv(f"CADENZA_{name.upper()}_TOKEN", "s3cret")

    endpoint = service_endpoint(name)

    assert (endpoint.base_url, endpoint.token) == (f"https://{name}.example.com", "s3cret")
