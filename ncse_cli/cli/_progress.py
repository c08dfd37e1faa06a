"""Rich progress bars for the library's ``progress(description) -> (done, total)`` callbacks."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ncse_cli.cli._common import err_console

ProgressFn = Callable[[int, int], None]


class TaskBars:
    """One bar per task on stderr. The display stops once all its tasks are complete, so that a library call
    drawing its own bar in between (training) does not collide with it; the next task starts a new display."""

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def __call__(self, description: str) -> ProgressFn:
        if self.progress is None:
            columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TimeElapsedColumn(), TimeRemainingColumn())
            self.progress = Progress(*columns, console=err_console)
            self.progress.start()
        progress = self.progress
        task = progress.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)
            if progress is self.progress and all(t.finished for t in progress.tasks):
                self.close()
        return update

    def close(self) -> None:
        """Stop the current display, if any."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@contextmanager
def task_bars(enabled: bool = True) -> Iterator[Callable[[str], ProgressFn] | None]:
    """Yield a factory that adds one bar per task (enhance, score, ...); ``None`` when disabled."""
    if not enabled:
        yield None
        return
    bars = TaskBars()
    try:
        yield bars
    finally:
        bars.close()
