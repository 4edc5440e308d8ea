"""`examples/verify/services.yaml` finds the simulated services where `cadenza up` runs them, default ports or moved
ones: with CADENZA_ERP_PORT and the others moved (another stack on the defaults), `cadenza verify` once probed the
default ports, and wrote its probes to whatever answered there."""

from __future__ import annotations

from pathlib import Path

from clients.verify import load_config

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "verify" / "services.yaml"


def _base_urls(environ: dict[str, str]) -> dict[str, str]:
    return {name: service.base_url for name, service in load_config(CONFIG, environ).services.items()}


def test_the_example_follows_the_ports_cadenza_up_serves_on():
    assert _base_urls({}) == {
        "erp": "http://127.0.0.1:8101",
        "payment": "http://127.0.0.1:8102",
        "inventory": "http://127.0.0.1:8103",
    }
    moved = {"CADENZA_ERP_PORT": "28101", "CADENZA_PAYMENT_PORT": "28102", "CADENZA_INVENTORY_PORT": "28103"}
    assert _base_urls(moved) == {
        "erp": "http://127.0.0.1:28101",
        "payment": "http://127.0.0.1:28102",
        "inventory": "http://127.0.0.1:28103",
    }


def test_a_url_wins_over_a_port_and_probe_placeholders_are_left_for_the_probes():
    config = load_config(CONFIG, {"CADENZA_ERP_URL": "http://erp.staging:9000", "CADENZA_ERP_PORT": "28101"})
    assert config.services["erp"].base_url == "http://erp.staging:9000"
    sample = config.services["erp"].operations["createOrder"].sample
    assert sample.body["order_id"] == "verify-${unique}"
