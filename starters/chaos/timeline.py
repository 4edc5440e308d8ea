"""The run's clock and progress, and the one place disruptions are announced."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starters.chaos.report import ChaosReport


class Timeline:
    """Counts closed orders and prints each event with the time and progress it happened at."""

    def __init__(self, total: int, report: ChaosReport, log: Callable[[str], None]) -> None:
        self.total, self.done = total, 0
        self.halfway = asyncio.Event()
        self.outage_started = asyncio.Event()
        """Set when the planned outage begins (at once when none is planned): the big compensation wave follows it."""
        self._report, self._log = report, log
        self._started = time.monotonic()

    def order_closed(self) -> None:
        self.done += 1
        if self.done * 2 >= self.total:
            self.halfway.set()

    def reached(self, share: float) -> bool:
        return self.done >= share * self.total

    def event(self, message: str) -> None:
        line = f"{time.monotonic() - self._started:6.1f} s, {self.done}/{self.total} closed: {message}"
        self._report.events.append(line)
        self._log(line)
