"""schemathesis against the codec server's own OpenAPI document, with every default check: answers match the
document (statuses, content types, bodies), invalid input is refused with 4xx, valid input is accepted, and
nothing is ever a 5xx. Once as on a developer's machine (no auth), once as deployed (a static token for every
namespace, so generated X-Namespace values are accepted; the checks also call without it)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from codec_server import CodecServerSettings, create_codec_app
from codec_server.access import StaticTokens
from tests.codec_server.conftest import UI_ORIGINS, test_codec

ANY_NAMESPACE_TOKEN = "any-" + "n" * 30
# schemathesis calls the app as Starlette's test client does, by the name `testserver`: configured like any other name.
TEST_CLIENT_HOST = ("testserver",)

open_schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_codec_app(test_codec(), CodecServerSettings(origins=UI_ORIGINS, allowed_hosts=TEST_CLIENT_HOST)),
)
guarded_schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_codec_app(
        test_codec(),
        CodecServerSettings(
            origins=UI_ORIGINS,
            tokens=StaticTokens.parse(f"{ANY_NAMESPACE_TOKEN}=*:read,*:write"),
            allowed_hosts=TEST_CLIENT_HOST,
        ),
    ),
)
_budget = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@open_schema.parametrize()
@_budget
def test_open_codec_server_conforms_to_its_openapi(case):
    case.call_and_validate()


@guarded_schema.parametrize()
@_budget
def test_guarded_codec_server_conforms_to_its_openapi(case):
    case.call_and_validate(headers={"Authorization": f"Bearer {ANY_NAMESPACE_TOKEN}"})
