"""Temporal's codec-server wire format: `{"payloads": [{"metadata": {key: base64}, "data": base64}]}`.

This is the proto3 JSON encoding of `temporal.api.common.v1.Payloads`, which the Web UI and the `temporal` CLI send.
The pydantic models `Payloads` and `Payload` describe it for the OpenAPI document and check its shape strictly first
(protobuf's own JSON parser accepts what the document forbids: `null` for a string, base64 with stray characters),
then `google.protobuf.json_format` turns what they validated into the protobuf messages the codec takes. Fields
the document does not name are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated

from google.protobuf import json_format
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.api.common import v1 as proto

from cadenza.errors import CadenzaError

# proto3 JSON accepts standard and URL-safe base64, padded or not; a length of 4n+1 can never be base64. pydantic
# matches with Rust's regex engine, where `$` does not also match before a final newline as Python's does.
_BASE64 = r"^(?:[A-Za-z0-9+/_-]{4})*(?:[A-Za-z0-9+/_-]{2}(?:==)?|[A-Za-z0-9+/_-]{3}=?)?$"

Base64 = Annotated[
    str, Field(pattern=_BASE64, description="Bytes, base64-encoded", json_schema_extra={"contentEncoding": "base64"})
]


class Payload(BaseModel):
    """One payload. Fields left out are empty, as in proto3 JSON."""

    model_config = ConfigDict(strict=True)

    metadata: dict[str, Base64] = Field(
        default_factory=dict, description='e.g. {"encoding": "YmluYXJ5L2VuY3J5cHRlZA=="} (binary/encrypted)'
    )
    data: Base64 = ""


class Payloads(BaseModel):
    """The body of `/encode` and `/decode`, and of their answers."""

    model_config = ConfigDict(strict=True)

    payloads: list[Payload]


class MalformedPayloads(CadenzaError, ValueError):
    """The body is not Temporal's JSON payload format; the message says where."""


def parse_payloads(body: bytes) -> list[proto.Payload]:
    """The payloads of a request body, or `MalformedPayloads`."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedPayloads(f"the body is not JSON ({err})") from None
    try:
        valid = Payloads.model_validate(document)
    except ValidationError as err:
        raise MalformedPayloads(_describe(err)) from None
    # Only what was validated goes on: other fields are ignored, as proto3 JSON parsers may (json_format would read
    # a key like "[x]" as a protobuf extension and fail).
    try:
        return list(json_format.ParseDict(valid.model_dump(), proto.Payloads()).payloads)
    except json_format.ParseError as err:
        raise MalformedPayloads(f"not a Temporal Payloads message: {err}") from None


def render_payloads(payloads: Sequence[proto.Payload]) -> dict[str, list[dict[str, object]]]:
    """The JSON answer for `payloads` (always with the `payloads` key, even when empty)."""
    return {"payloads": [json_format.MessageToDict(payload) for payload in payloads]}


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(whole document)"
    more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
    return f'{where}: {first["msg"]}{more}; expected {{"payloads": [{{"metadata": {{…}}, "data": "<base64>"}}]}}'
