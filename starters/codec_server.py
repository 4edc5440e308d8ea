"""`cadenza codec-server`: serve the codec server in the foreground (the module `codec_server` does the work)."""

from __future__ import annotations

from typing import Annotated

import typer

from cadenza.settings import codec_port


def codec_server(
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but loopback needs "
                                      "CADENZA_CODEC_TOKENS or an OIDC issuer")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="Port (default CADENZA_CODEC_PORT, else 8234)")] = None,
) -> None:
    """Serve the codec server: the Temporal Web UI and `temporal --codec-endpoint` read encrypted orders through it.
    Whoever can call it can decrypt: see docs/security.md, "Reading encrypted orders"."""
    from codec_server.app import serve

    serve(host, port or codec_port() or 8234)
