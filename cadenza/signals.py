"""Running a long-lived async command until Ctrl-C or SIGTERM, the same way everywhere (no pasted boilerplate)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run `main(stop)`; SIGINT and SIGTERM set `stop` so it can shut down cleanly instead of being torn apart."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    return asyncio.run(runner())
