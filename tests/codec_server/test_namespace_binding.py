"""A payload is decrypted only for the namespace it was written in: the codec server checks the caller's grant against
X-Namespace, and the payload itself against X-Namespace (its namespace is sealed into the ciphertext). Before, a token
granted only `sandbox` read a `default` payload by sending `X-Namespace: sandbox`: ciphertext was bound to the key id
alone. The payloads here are made as a worker connected to `default` makes them (cadenza.connection), and the server
is the one `cadenza codec-server` runs (default_codec, the same keys from the environment)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from cadenza import codec, connection
from codec_server import CodecServerSettings, create_codec_app, default_codec
from codec_server.access import StaticTokens
from starters.history_files import load_history
from tests.codec_server.conftest import CODEC_URL, UI_ORIGINS

SANDBOX_ONLY = "sandbox-only-" + "s" * 24
DEFAULT_READER = "default-reader-" + "d" * 24
TOKENS = f"{SANDBOX_ONLY}=sandbox:read,sandbox:write;{DEFAULT_READER}=default:read"
# Recorded under the committed test-only key, before payloads carried their namespace.
WRITTEN_BEFORE_THE_BINDING = Path(__file__).resolve().parents[1] / "histories" / "encrypted" / "happy_path.json"


@pytest.fixture
def worker_converter(monkeypatch: pytest.MonkeyPatch) -> Iterator[DataConverter]:
    """The data converter of a worker connected to namespace `default`, with the test processes' key."""
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    connection.key_ring.cache_clear()
    connection.data_converter.cache_clear()
    yield connection.data_converter()
    connection.key_ring.cache_clear()
    connection.data_converter.cache_clear()


@pytest_asyncio.fixture(loop_scope="session")
async def codec_server() -> AsyncIterator[httpx.AsyncClient]:
    app = create_codec_app(default_codec(), CodecServerSettings(origins=UI_ORIGINS, tokens=StaticTokens.parse(TOKENS)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=CODEC_URL) as client:
        yield client


async def written_in_default(converter: DataConverter, marker: str) -> dict:
    [payload] = await converter.encode([{"customer": marker}])
    return {"payloads": [json_format.MessageToDict(payload)]}


def decode(client: httpx.AsyncClient, body: dict, *, token: str, namespace: str):
    return client.post("/decode", json=body, headers={"Authorization": f"Bearer {token}", "X-Namespace": namespace})


def readable(answer: httpx.Response) -> str:
    """Everything the answer carries, payload data base64-decoded: a decrypted marker shows up here."""
    texts = [answer.text]
    if answer.headers.get("content-type") == "application/json":
        texts += [base64.b64decode(p.get("data", "")).decode(errors="replace") for p in answer.json()["payloads"]]
    return "\n".join(texts)


async def test_a_sandbox_grant_cannot_read_a_default_payload_by_naming_sandbox(worker_converter, codec_server):
    marker = f"marker-{uuid.uuid4().hex}"
    answer = await decode(
        codec_server, await written_in_default(worker_converter, marker), token=SANDBOX_ONLY, namespace="sandbox"
    )
    assert answer.status_code == 403, answer.text
    assert marker not in readable(answer)
    assert "'default'" in answer.json()["detail"]  # says which namespace it belongs to, so a rightful reader knows


async def test_relabelling_the_payload_as_sandbox_is_refused_too(worker_converter, codec_server):
    marker = f"marker-{uuid.uuid4().hex}"
    body = await written_in_default(worker_converter, marker)
    body["payloads"][0]["metadata"]["encryption-namespace"] = base64.b64encode(b"sandbox").decode()
    answer = await decode(codec_server, body, token=SANDBOX_ONLY, namespace="sandbox")
    assert answer.status_code == 400, answer.text  # the namespace is sealed in: changing it fails authentication
    assert marker not in readable(answer)
    assert "fails authentication" in answer.json()["detail"]


async def test_dropping_the_namespace_does_not_pass_it_off_as_an_old_payload(worker_converter, codec_server):
    marker = f"marker-{uuid.uuid4().hex}"
    body = await written_in_default(worker_converter, marker)
    del body["payloads"][0]["metadata"]["encryption-namespace"]
    answer = await decode(codec_server, body, token=SANDBOX_ONLY, namespace="sandbox")
    assert answer.status_code == 400, answer.text
    assert marker not in readable(answer)


async def test_its_own_namespace_reads_it(worker_converter, codec_server):
    marker = f"marker-{uuid.uuid4().hex}"
    answer = await decode(
        codec_server, await written_in_default(worker_converter, marker), token=DEFAULT_READER, namespace="default"
    )
    assert answer.status_code == 200, answer.text
    assert marker in readable(answer)


def _written_before_the_binding() -> dict:
    started = load_history(WRITTEN_BEFORE_THE_BINDING).events[0].workflow_execution_started_event_attributes
    [payload] = started.input.payloads
    assert payload.metadata["encoding"] == b"binary/encrypted" and "encryption-namespace" not in payload.metadata
    return {"payloads": [json_format.MessageToDict(payload)]}


async def test_a_payload_written_before_the_binding_still_reads(codec_server):
    answer = await decode(codec_server, _written_before_the_binding(), token=DEFAULT_READER, namespace="default")
    assert answer.status_code == 200, answer.text
    assert base64.b64decode(answer.json()["payloads"][0]["metadata"]["encoding"]) == b"json/plain"


async def test_once_retired_a_payload_written_before_the_binding_is_refused(monkeypatch):
    monkeypatch.setenv("CADENZA_ENCRYPTION_UNBOUND", "refuse")
    app = create_codec_app(default_codec(), CodecServerSettings(origins=UI_ORIGINS, tokens=StaticTokens.parse(TOKENS)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=CODEC_URL) as client:
        answer = await decode(client, _written_before_the_binding(), token=DEFAULT_READER, namespace="default")
    assert answer.status_code == 403, answer.text
    assert "CADENZA_ENCRYPTION_UNBOUND" in answer.json()["detail"]


async def test_encode_binds_the_payloads_to_x_namespace(codec_server, worker_converter):
    plain = {
        "payloads": [
            {
                "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                "data": base64.b64encode(b'"from the Web UI"').decode(),
            }
        ]
    }
    headers = {"Authorization": f"Bearer {SANDBOX_ONLY}", "X-Namespace": "sandbox"}
    sealed = (await codec_server.post("/encode", json=plain, headers=headers)).json()
    assert base64.b64decode(sealed["payloads"][0]["metadata"]["encryption-namespace"]) == b"sandbox"
    # A worker of `default` refuses it: what the Web UI sends into one namespace cannot be replayed into another.
    with pytest.raises(codec.NamespaceMismatch):
        await worker_converter.payload_codec.decode([json_format.ParseDict(sealed["payloads"][0], Payload())])
