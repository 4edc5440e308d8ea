"""`python -m codec_server --port 8234`: the codec server under uvicorn (what `cadenza up` runs)."""

from __future__ import annotations

import argparse

from cadenza.process_exit import run_and_exit
from cadenza.settings import codec_port, settings
from codec_server.app import serve


def main() -> None:
    settings()  # a bad CADENZA_* value stops the codec server here, with one line naming it
    parser = argparse.ArgumentParser(prog="python -m codec_server", description="Serve Cadenza's codec server")
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on; beyond loopback needs auth")
    parser.add_argument("--port", type=int, default=codec_port() or 8234)
    args = parser.parse_args()
    serve(args.host, args.port)


if __name__ == "__main__":
    run_and_exit(main)
