"""Progress for long steps, on stderr: a Rich bar on a terminal, plain periodic lines otherwise.

A log (output not a terminal) gets one line when a step starts, one each
time its description changes (an epoch and its validation metric, say), one
at most every `PLAIN_EVERY_SECONDS` while it counts, and one when it ends,
each with the description, the count and the seconds so far. `PAIRRANK_QUIET` silences both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

console = Console(stderr=True)
PLAIN_EVERY_SECONDS = 10.0


class Bar:
    """One task of a Rich progress display (or nothing, when silenced)."""

    def __init__(self, progress: Progress | None = None, task: int | None = None):
        self._progress, self._task = progress, task

    def advance(self, steps: float = 1, description: str | None = None) -> None:
        """Count `steps` more; a `description` given with them (an epoch's result, say) replaces the old one."""
        if self._progress is not None:
            self._progress.update(self._task, advance=steps, description=description)

    def describe(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=text)


class PlainBar(Bar):
    """Progress as plain lines for logs: `description: done/total (12.3 s)`."""

    def __init__(self, description: str, total: float | None):
        super().__init__()
        self.description, self.total, self.done = description, total, 0.0
        self.started = self.last_line = time.monotonic()
        self.last_said: tuple[str, str] | None = None

    def advance(self, steps: float = 1, description: str | None = None) -> None:
        """Count on; a line when the description changes with the count, or when the last line is old."""
        self.done += steps
        if description is not None and description != self.description:
            self.describe(description)
        elif time.monotonic() - self.last_line >= PLAIN_EVERY_SECONDS:
            self.line()

    def describe(self, text: str) -> None:
        """A new description (an epoch's result, say) is worth a line of its own."""
        self.description = text
        self.line()

    def line(self) -> None:
        """Print where the step stands, unless the last line already said so."""
        count = f"{self.done:g}/{self.total:g}" if self.total is not None else f"{self.done:g}"
        if (self.description, count) == self.last_said:
            return
        self.last_said, self.last_line = (self.description, count), time.monotonic()
        console.print(f"{self.description}: {count} ({self.last_line - self.started:.1f} s)", highlight=False)


@contextmanager
def progress_bar(description: str, total: float | None = None, *, enabled: bool = True) -> Iterator[Bar]:
    """A progress display on stderr; `total=None` counts without a bar."""
    if not enabled or os.environ.get("PAIRRANK_QUIET"):
        yield Bar()
        return
    if not console.is_terminal:
        bar = PlainBar(description, total)
        bar.line()
        yield bar
        bar.line()
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        yield Bar(progress, progress.add_task(description, total=total))
