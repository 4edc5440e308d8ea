"""`python -m codec_server --port 8234`: the codec server under uvicorn (what `cadenza codec-server` and `cadenza up`
run)."""

from __future__ import annotations

import argparse

from cadenza.logs import configure_logging
from cadenza.process_exit import exit_with, run_and_exit
from cadenza.processes import PortInUse
from cadenza.settings import codec_port, settings
from codec_server.access import InvalidAccessSettings
from codec_server.app import CodecUnavailable, serve
from codec_server.settings import InsecureBinding

EXIT_BAD_INPUT = 2  # a refused configuration: what the CLI exits with for bad input


def main() -> None:
    settings()  # a bad CADENZA_* value stops the codec server here, with one line naming it
    configure_logging()  # JSON lines on stderr, as the worker's: the access log among them
    parser = argparse.ArgumentParser(prog="python -m codec_server", description="Serve Cadenza's codec server")
    parser.add_argument("--host", default="127.0.0.1", help="Address to listen on; beyond loopback needs auth")
    parser.add_argument("--port", type=int, help="Port (default CADENZA_CODEC_PORT, else 8234)")
    args = parser.parse_args()
    port = args.port or codec_port() or 8234
    try:
        serve(args.host, port)
    except (InsecureBinding, InvalidAccessSettings) as err:
        exit_with(str(err), EXIT_BAD_INPUT)
    except (CodecUnavailable, PortInUse) as err:
        exit_with(str(err))


if __name__ == "__main__":
    run_and_exit(main)
