"""DNS rebinding against the embedded stack, as `cadenza up` starts it: a page that re-points its own domain at
127.0.0.1 calls the Web UI and the codec server with `Host: <its domain>`. Both refuse it (421) and give away nothing
— no workflow id, no decrypted input — while `localhost` and `127.0.0.1` work as before. The dev server's own UI port
(private, behind cadenza.web_ui_guard) shows what Temporal's binary does on its own: it answers any Host."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.integration.codec_stack import EncryptedOrder, encrypted_order  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

REBINDING = "attacker.example"


def _workflow_api(order: EncryptedOrder, port: int) -> str:
    return f"http://127.0.0.1:{port}/api/v1/namespaces/default/workflows/{order.workflow_id}"


async def test_the_web_ui_refuses_a_rebinding_host(encrypted_order: EncryptedOrder):
    order, port = encrypted_order, encrypted_order.stack.config.ui_port
    async with httpx.AsyncClient(timeout=30) as http:
        refused = await http.get(_workflow_api(order, port), headers={"Host": f"{REBINDING}:{port}"})
        answered = await http.get(_workflow_api(order, port), headers={"Host": f"localhost:{port}"})
        page = await http.get(f"http://127.0.0.1:{port}/namespaces/default/workflows")
    assert refused.status_code == 421, refused.text
    assert order.workflow_id not in refused.text
    assert answered.status_code == 200 and order.workflow_id in answered.text  # the UI's API, through the guard
    assert page.status_code == 200 and "<html" in page.text.lower()


async def test_temporals_own_ui_port_would_have_answered(encrypted_order: EncryptedOrder):
    # Why the guard exists: the dev server's Web UI checks no Host (its config has no such setting).
    order = encrypted_order
    async with httpx.AsyncClient(timeout=30) as http:
        exposed = await http.get(_workflow_api(order, order.stack.ui_upstream_port), headers={"Host": REBINDING})
    assert exposed.status_code == 200 and order.workflow_id in exposed.text


async def test_the_codec_server_refuses_a_rebinding_host(encrypted_order: EncryptedOrder):
    order = encrypted_order
    codec = f"http://127.0.0.1:{order.stack.config.codec_port}"
    marker_payload = {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(f'"{order.marker}"'.encode()).decode(),
            }
        ]
    }
    async with httpx.AsyncClient(timeout=30) as http:
        sealed = (await http.post(f"{codec}/encode", json=marker_payload)).json()
        refused = await http.post(f"{codec}/decode", json=sealed, headers={"Host": REBINDING})
        answered = await http.post(f"{codec}/decode", json=sealed, headers={"Host": "localhost"})
    assert refused.status_code == 421 and order.marker not in refused.text
    assert answered.json() == marker_payload
