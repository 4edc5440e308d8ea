"""Ending a process that used a Temporal client without crashing on the way out.

The SDK's Rust bridge keeps Tokio threads that can outlive the event loop; when CPython finalizes while one of them
still touches the GIL, the process dies with SIGSEGV or SIGABRT *after* doing its work (temporalio/sdk-python#300).
A CLI whose exit code scripts rely on cannot afford that, so our entry points flush and leave with `os._exit`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from opentelemetry import trace


def run_and_exit(entry_point: Callable[[], object]) -> None:
    """Run `entry_point` (which may `sys.exit`), then end the process with its exit code, skipping finalization."""
    code = 0
    try:
        entry_point()
    except SystemExit as exit_:
        if isinstance(exit_.code, int):
            code = exit_.code
        elif exit_.code is not None:
            print(exit_.code, file=sys.stderr)
            code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        _flush_spans()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _flush_spans() -> None:
    # os._exit skips atexit, where the batch span processor would otherwise send the last spans (this command's).
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_millis=5000)
