"""`cadenza codec-server`: serve the codec server in the foreground (this process becomes `python -m codec_server`)."""

from __future__ import annotations

from typing import Annotated

import typer

from cadenza.processes import hand_over_to_module
from cadenza.settings import codec_port


def codec_server(
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on; anything but loopback needs CADENZA_CODEC_TOKENS or an OIDC issuer"
        ),
    ] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="Port (default CADENZA_CODEC_PORT, else 8234)")] = None,
) -> None:
    """Serve the codec server: the Temporal Web UI and `temporal --codec-endpoint` read encrypted orders through it.
    Whoever can call it can decrypt: see docs/security.md, "Reading encrypted orders"."""
    # Handed over, not imported: doors never import each other (python -m codec_server says what it refuses).
    hand_over_to_module("codec_server", "--host", host, "--port", str(port or codec_port() or 8234))
