"""`python -m api --port 8100`: the Order API under uvicorn (what `cadenza api` and `cadenza up` run)."""

from __future__ import annotations

import argparse

from api.app import serve
from cadenza.codec import EncryptionError
from cadenza.process_exit import exit_with, run_and_exit
from cadenza.settings import settings


def main() -> None:
    settings()  # a bad CADENZA_* value stops the API here, with one line naming it
    parser = argparse.ArgumentParser(prog="python -m api", description="Serve the Cadenza Order API")
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    try:
        serve(args.host, args.port)
    except EncryptionError as err:
        exit_with(str(err))


if __name__ == "__main__":
    run_and_exit(main)
