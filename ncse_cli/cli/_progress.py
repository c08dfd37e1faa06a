"""Rich progress bars for the library's progress protocol (:mod:`ncse_cli.progress`): one bar per task."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ncse_cli.cli._common import err_console

Task = Callable[..., None]


class TaskBars:
    """``bars(description)`` adds a bar on stderr and returns its ``task(done, total, note=None)``."""

    def __init__(self) -> None:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=err_console)

    def __call__(self, description: str) -> Task:
        if not self.progress.live.is_started:
            self.progress.start()
        progress, task = self.progress, self.progress.add_task(description, total=None, note="")

        def update(done: int, total: int, note: str | None = None) -> None:
            fields = {} if note is None else {"note": note}
            progress.update(task, completed=done, total=total, **fields)
        return update

    def close(self) -> None:
        """Stop the display (the bars stay on the screen)."""
        self.progress.stop()


@contextmanager
def task_bars(enabled: bool = True) -> Iterator[TaskBars | None]:
    """Yield a :class:`TaskBars` for a library call's ``progress``; ``None`` when disabled."""
    if not enabled:
        yield None
        return
    bars = TaskBars()
    try:
        yield bars
    finally:
        bars.close()
