"""`run_and_exit` ends every process with `os._exit`, whatever the entry point raised: an error that escaped to
interpreter finalization is the crash the module exists to avoid (temporalio/sdk-python#300)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from cadenza.processes import free_port

# atexit handlers run during interpreter finalization and never after os._exit: "FINALIZED" on stdout means the
# process went the dangerous way out.
ENTRY_POINT = """
import atexit, sys
from cadenza.process_exit import run_and_exit
from temporalio.service import RPCError, RPCStatusCode

atexit.register(lambda: print("FINALIZED", flush=True))

def main():
    {body}

run_and_exit(main)
"""


def run_entry_point(body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = ENTRY_POINT.format(body=body)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CADENZA_DEBUG": "", **env},
    )


def test_an_unexpected_error_ends_with_one_line_exit_1_and_no_finalization() -> None:
    ended = run_entry_point("raise RuntimeError('the ledger is closed\\nsecond line of detail')")

    assert ended.returncode == 1
    assert "FINALIZED" not in ended.stdout
    assert "Traceback" not in ended.stderr
    [line] = ended.stderr.strip().splitlines()
    assert line.startswith("error: the ledger is closed")
    assert "CADENZA_DEBUG=1" in line  # what to do next: how to see the rest


def test_an_rpc_error_says_to_check_that_temporal_is_running() -> None:
    ended = run_entry_point("raise RPCError('connection reset', RPCStatusCode.UNAVAILABLE, b'')")

    assert ended.returncode == 1
    assert "FINALIZED" not in ended.stdout
    [line] = ended.stderr.strip().splitlines()
    assert "connection reset" in line
    assert "cadenza up" in line and "TEMPORAL_ADDRESS" in line


def test_with_cadenza_debug_the_traceback_is_shown() -> None:
    ended = run_entry_point("raise RuntimeError('the ledger is closed')", CADENZA_DEBUG="1")

    assert ended.returncode == 1
    assert "FINALIZED" not in ended.stdout
    assert "Traceback" in ended.stderr
    assert "RuntimeError: the ledger is closed" in ended.stderr


def test_exit_codes_and_interrupts_are_kept() -> None:
    assert run_entry_point("sys.exit(3)").returncode == 3
    assert run_entry_point("raise KeyboardInterrupt").returncode == 130
    refused = run_entry_point("sys.exit('nothing to do here')")
    assert (refused.returncode, refused.stderr.strip()) == (1, "nothing to do here")


def test_a_worker_started_while_temporal_is_down_says_what_to_do() -> None:
    nobody_listens = f"127.0.0.1:{free_port()}"
    ended = subprocess.run(
        [sys.executable, "-m", "workers"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TEMPORAL_ADDRESS": nobody_listens, "CADENZA_METRICS_PORT": "0", "CADENZA_DEBUG": ""},
    )

    assert ended.returncode == 1
    assert "Traceback" not in ended.stderr
    [line] = ended.stderr.strip().splitlines()
    assert line.startswith(f"error: Cannot reach Temporal at {nobody_listens}")
    assert "cadenza up" in line
