"""Running a long-lived async command until Ctrl-C or SIGTERM, the same way everywhere (no pasted boilerplate)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from cadenza.errors import CadenzaError

T = TypeVar("T")

EXIT_INTERRUPTED = 128 + signal.SIGINT
"""Exit code of a command stopped by Ctrl-C before it could finish, as shells report a process killed by SIGINT."""


class Interrupted(CadenzaError):
    """`stop` was set (Ctrl-C, SIGTERM) before the awaited work finished; the work was cancelled and has unwound."""

    exit_code = EXIT_INTERRUPTED


def run_until_signalled(
    main: Callable[[asyncio.Event], Awaitable[T]],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run `main(stop)`; SIGINT and SIGTERM set `stop` so it can shut down cleanly instead of being torn apart.
    `loop_factory` makes the event loop (default: asyncio's)."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    with asyncio.Runner(loop_factory=loop_factory) as loop_runner:  # what asyncio.run does, with a choice of loop
        return loop_runner.run(runner())


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T:
    """Await `work`, but cancel it as soon as `stop` is set and raise `Interrupted` once it has unwound.

    The signal handlers above only set `stop`; code busy with something long (starting a stack) would not look at it
    until done, so Ctrl-C would seem ignored. Cancelling lets the work's own cleanup run (stop what it started)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        stopped.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise Interrupted
