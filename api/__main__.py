"""`python -m api --port 8100`: the Order API under uvicorn (what `cadenza api` and `cadenza up` run)."""

from __future__ import annotations

import argparse

from api.app import serve
from cadenza.codec import EncryptionError
from cadenza.logs import configure_logging
from cadenza.process_exit import exit_with, run_and_exit
from cadenza.processes import PortInUse
from cadenza.settings import api_port, settings


def main() -> None:
    settings()  # a bad CADENZA_* value stops the API here, with one line naming it
    configure_logging()  # JSON lines on stderr, as the worker's: the access log among them
    parser = argparse.ArgumentParser(prog="python -m api", description="Serve the Cadenza Order API")
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, help="Port (default CADENZA_API_PORT, else 8100)")
    args = parser.parse_args()
    port = args.port or api_port() or 8100
    try:
        serve(args.host, port)
    except (EncryptionError, PortInUse) as err:
        exit_with(str(err))


if __name__ == "__main__":
    run_and_exit(main)
