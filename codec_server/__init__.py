"""The codec server: lets authorised people read Cadenza's encrypted payloads in the Temporal Web UI and CLI.

`POST /decode` and `POST /encode` speak Temporal's remote-codec protocol (JSON payloads, proto3 JSON encoding) and
run the payloads through the same `PayloadCodec` the workers use. Whoever can call it can decrypt: it listens on
loopback without authentication for local development only, and anywhere else demands a bearer token
(`codec_server.access`). docs/security.md, "Reading encrypted orders", says how to point the Web UI and `temporal`
at it.
"""

from codec_server.app import create_codec_app, default_codec, serve
from codec_server.settings import CodecServerSettings

__all__ = ["CodecServerSettings", "create_codec_app", "default_codec", "serve"]
