"""The training progress bar (rich): steps done, last logged loss, steps per second, time left."""

from __future__ import annotations

import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class TrainProgress:
    """A context manager around a rich progress bar; disabled (a no-op) on non-main processes."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True) -> None:
        self.enabled = enabled
        self.start_step, self.start_time = start, time.perf_counter()
        self.progress = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} steps/s"),
                                 TimeElapsedColumn(), TimeRemainingColumn(), disable=not enabled)
        self.task = self.progress.add_task("train", total=total, completed=start, loss="-", rate="-")

    def __enter__(self) -> "TrainProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def advance(self, step: int, loss: float | None = None) -> None:
        """Show ``step`` as done; ``loss`` (when this step logged one) replaces the shown loss."""
        rate = (step - self.start_step) / max(time.perf_counter() - self.start_time, 1e-9)
        fields = {"rate": f"{rate:.2f}"}
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        self.progress.update(self.task, completed=step, **fields)
