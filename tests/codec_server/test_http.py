"""The codec server as the Web UI and the `temporal` CLI use it: CORS preflight from both UI origins, encode then
decode, and every malformed body answered 400 (a problem document), never 500."""

from __future__ import annotations

import base64

import pytest

from cadenza.codec import ENCODING
from cadenza.problems import PROBLEM_JSON
from codec_server.app import MAX_BODY_BYTES
from tests.codec_server.conftest import UI_ORIGINS, payloads_body


@pytest.mark.parametrize("origin", UI_ORIGINS)
@pytest.mark.parametrize("path", ["/encode", "/decode"])
async def test_preflight_from_each_web_ui_origin_allows_the_headers_the_ui_sends(open_client, origin, path):
    answer = await open_client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == origin
    assert "POST" in answer.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "x-namespace", "authorization"} <= allowed


async def test_preflight_from_another_origin_is_refused(open_client):
    answer = await open_client.options(
        "/decode",
        headers={
            "Origin": "http://evil.test",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert answer.status_code == 400
    assert "access-control-allow-origin" not in answer.headers


async def test_the_ui_can_read_the_answer_to_its_post(open_client):
    answer = await open_client.post("/decode", json=payloads_body(b'"x"'), headers={"Origin": UI_ORIGINS[1]})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == UI_ORIGINS[1]


async def test_encode_then_decode_gives_back_the_payloads_and_encode_hides_them(open_client):
    body = payloads_body(b'{"customer": "marker-4711"}', b'"second"', b"")
    encoded = await open_client.post("/encode", json=body, headers={"X-Namespace": "default"})
    assert encoded.status_code == 200, encoded.text
    sealed = encoded.json()["payloads"]
    assert len(sealed) == 3
    assert all(base64.b64decode(p["metadata"]["encoding"]) == ENCODING for p in sealed)
    assert b"marker-4711" not in base64.b64decode(sealed[0]["data"])
    decoded = await open_client.post("/decode", json=encoded.json(), headers={"X-Namespace": "default"})
    assert decoded.status_code == 200
    # proto3 JSON leaves out empty fields: the third payload's empty data comes back without "data".
    assert decoded.json() == {
        "payloads": [
            body["payloads"][0],
            body["payloads"][1],
            {"metadata": body["payloads"][2]["metadata"]},
        ]
    }


async def test_payloads_that_are_not_encrypted_decode_unchanged(open_client):
    body = payloads_body(b'"plain history from before encryption"')
    assert (await open_client.post("/decode", json=body)).json() == body


async def test_fields_the_format_does_not_name_are_ignored(open_client):
    # schemathesis found this one: protobuf's JSON parser reads a key like "[x]" as an extension, and fails.
    body = payloads_body(b'"x"')
    noisy = {"payloads": [{**body["payloads"][0], "[x]": 1, "externalPayloads": 5}], "next": None}
    assert (await open_client.post("/decode", json=noisy)).json() == body


async def test_an_empty_list_is_answered_with_an_empty_list(open_client):
    assert (await open_client.post("/decode", json={"payloads": []})).json() == {"payloads": []}


MALFORMED = {
    "not JSON": b"{payloads",
    "not UTF-8": b"\xff\xfe{}",
    "empty body": b"",
    "a list": b"[]",
    "no payloads key": b"{}",
    "payloads not a list": b'{"payloads": {"data": "eA=="}}',
    "payload not an object": b'{"payloads": ["eA=="]}',
    "data not base64": b'{"payloads": [{"data": "not base64!"}]}',
    "data of impossible length": b'{"payloads": [{"data": "abcde"}]}',
    "data a number": b'{"payloads": [{"data": 12}]}',
    "data null": b'{"payloads": [{"data": null}]}',
    "metadata a list": b'{"payloads": [{"metadata": ["x"]}]}',
    "metadata value not base64": b'{"payloads": [{"metadata": {"encoding": "json plain"}}]}',
    "trailing newline in base64": b'{"payloads": [{"data": "eA==\\n"}]}',
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("path", ["/encode", "/decode"])
async def test_malformed_bodies_are_400_problems(open_client, path, body):
    answer = await open_client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["detail"]


async def test_a_tampered_encrypted_payload_is_400_not_500(open_client):
    sealed = (await open_client.post("/encode", json=payloads_body(b'"x"'))).json()
    data = bytearray(base64.b64decode(sealed["payloads"][0]["data"]))
    data[-1] ^= 1
    sealed["payloads"][0]["data"] = base64.b64encode(bytes(data)).decode()
    answer = await open_client.post("/decode", json=sealed)
    assert answer.status_code == 400 and "fails authentication" in answer.json()["detail"]


async def test_a_body_over_the_limit_is_413(open_client):
    answer = await open_client.post("/decode", content=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413


async def test_health_needs_no_token(guarded_client):
    assert (await guarded_client.get("/healthz")).json() == {"status": "ok"}


async def test_preflight_needs_no_token_even_where_calls_do(guarded_client):
    # Browsers never send Authorization on a preflight: asking for it there would lock the Web UI out.
    answer = await guarded_client.options(
        "/encode",
        headers={
            "Origin": UI_ORIGINS[0],
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        },
    )
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == UI_ORIGINS[0]
