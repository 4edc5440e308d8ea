"""Ending a process that used a Temporal client without crashing on the way out.

The SDK's Rust bridge keeps Tokio threads that can outlive the event loop; when CPython finalizes while one of them
still touches the GIL, the process dies with SIGSEGV or SIGABRT *after* doing its work (temporalio/sdk-python#300).
A CLI whose exit code scripts rely on cannot afford that, so our entry points flush and leave with `os._exit` —
whatever the entry point raised, since an error that escaped to finalization would crash the same way.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

from opentelemetry import trace
from rich.console import Console
from rich.markup import escape
from temporalio.service import RPCError, RPCStatusCode

from cadenza.errors import CadenzaError
from cadenza.settings import InvalidSetting, settings
from cadenza.signals import EXIT_INTERRUPTED

SPAN_FLUSH_TIMEOUT_SECONDS = 5.0
"""How long leaving may wait for the last spans to be sent (part of a worker's stop time, see cadenza.shutdown)."""

DEBUG_ENV = "CADENZA_DEBUG"

# RPC statuses that mean "Temporal is not there (any more)" rather than "Temporal refused this request".
_UNREACHABLE = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED}


def run_and_exit(entry_point: Callable[[], object]) -> None:
    """Run `entry_point` (which may `sys.exit`), then end the process with its exit code, skipping finalization.

    Any other exception becomes one line on stderr (the traceback too with CADENZA_DEBUG=1) and exit code 1, or a
    `CadenzaError`'s own exit code, with its next step on that line."""
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
        code = EXIT_INTERRUPTED
    except BaseException as err:  # noqa: BLE001 - reaching os._exit is the point; the error is reported
        code = err.exit_code if isinstance(err, CadenzaError) else 1
        _report(err)
    finally:
        _flush_spans()
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _debug() -> bool:
    try:
        return settings().debug
    except InvalidSetting:  # a bad setting was reported at start; this error is the one to show
        return False


def exit_with(message: str, code: int = 1) -> NoReturn:
    """End an entry point run by `run_and_exit` with `error: message` on stderr and `code`: the same line the CLI's
    commands print for a refusal, so that a door's own entry point (`python -m api`) and the CLI command that hands
    over to it (`cadenza api`) refuse alike."""
    # Escaped: messages carry text from elsewhere that rich would otherwise take for markup and drop.
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")
    raise SystemExit(code)


def _report(err: BaseException) -> None:
    if _debug():
        traceback.print_exception(err)
        return
    try:
        line = f"error: {_first_line(err)} {_next_step(err)}".rstrip()
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop us from exiting
        line = f"error: {type(err).__name__}. Rerun with {DEBUG_ENV}=1 to see the traceback."
    print(line, file=sys.stderr)


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return f"{lines[0].rstrip('.')}." if lines else f"{type(err).__name__}."


def _next_step(err: BaseException) -> str:
    if isinstance(err, InvalidSetting):
        return ""  # its message is the whole story: the variable, its value and what to set instead
    if isinstance(err, CadenzaError) and err.next_step:
        return err.next_step
    if isinstance(err, RPCError) and err.status in _UNREACHABLE:
        return (
            f"Temporal did not answer ({err.status.name}): check it is running (`cadenza up` starts one) or that "
            f"TEMPORAL_ADDRESS points at it, then retry; {DEBUG_ENV}=1 shows the traceback."
        )
    if isinstance(err, RPCError):
        return f"Temporal refused the request ({err.status.name}); rerun with {DEBUG_ENV}=1 to see the traceback."
    return f"Rerun with {DEBUG_ENV}=1 to see the traceback."


def _flush_spans() -> None:
    # os._exit skips atexit, where the batch span processor would otherwise send the last spans (this command's).
    provider = trace.get_tracer_provider()
    if hasattr(provider, "force_flush"):
        provider.force_flush(timeout_millis=int(SPAN_FLUSH_TIMEOUT_SECONDS * 1000))
