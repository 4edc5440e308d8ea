"""What the terminal shows while a benchmark runs: a line for what is starting or stopping, a bar per phase."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from starters.bench.load import Advance


class _CountColumn(MofNCompleteColumn):
    """ "12/50" for a phase; nothing for the status line, which has no count."""

    def render(self, task: Task) -> Text:
        return super().render(task) if task.total is not None else Text("")


class BenchProgress:
    def __init__(self, console: Console) -> None:
        # A low refresh rate: in the in-process profiles the bars share the worker's CPU, which is being measured.
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            _CountColumn(),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=2,
        )
        self._status = self._progress.add_task("", total=None, visible=False)

    def __enter__(self) -> BenchProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._progress.update(self._status, visible=False)
        self._progress.stop()

    def status(self, message: str) -> None:
        """Show what is happening outside any phase (starting and stopping stacks)."""
        self._progress.update(self._status, description=message + "…", visible=True)

    def phase(self, description: str, total: int) -> Advance:
        """A bar for one phase; call the returned function once per completed order."""
        self._progress.update(self._status, visible=False)
        task = self._progress.add_task(description, total=total)
        return lambda: self._progress.advance(task)
