"""`temporal workflow show` reads an encrypted order only through the codec server (`--codec-endpoint`, as
docs/security.md documents it): without it, no payload of the history holds the order's marker, even base64-decoded."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.history_helpers import payload_texts
from tests.integration.codec_stack import EncryptedOrder, encrypted_order  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


async def _show(order: EncryptedOrder, *flags: str, **env: str) -> str:
    config = order.stack.config
    process = await asyncio.create_subprocess_exec(
        str(order.stack.temporal_binary),
        "workflow",
        "show",
        "-w",
        order.workflow_id,
        "-o",
        "json",
        "--address",
        config.temporal_address,
        *flags,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TEMPORAL_CODEC")}, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def _payload_texts(history_json: str) -> str:
    """Every payload's data, base64-decoded: a marker inside an unencrypted payload is only visible this way."""
    found = payload_texts(history_json)
    assert found, "no payloads found in the history: the check would pass vacuously"
    return "\n".join(found)


async def test_without_the_codec_endpoint_the_history_holds_no_marker(encrypted_order: EncryptedOrder):
    shown = await _show(encrypted_order)
    assert encrypted_order.marker not in shown
    assert encrypted_order.marker not in _payload_texts(shown)


async def test_with_the_codec_endpoint_the_input_reads_in_clear(encrypted_order: EncryptedOrder):
    endpoint = encrypted_order.stack.config.codec_url
    assert encrypted_order.marker in _payload_texts(await _show(encrypted_order, "--codec-endpoint", endpoint))


async def test_temporal_codec_endpoint_in_the_environment_does_the_same(encrypted_order: EncryptedOrder):
    endpoint = encrypted_order.stack.config.codec_url
    assert encrypted_order.marker in _payload_texts(await _show(encrypted_order, TEMPORAL_CODEC_ENDPOINT=endpoint))
