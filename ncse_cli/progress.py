"""The one progress protocol of the library: long calls report tasks, the caller decides how to show them.

A long library call (prepare, train, enhance, evaluate, demo) takes ``progress: Progress | None``. It opens one
task per stage with ``task = progress("enhance test w3")`` and reports ``task(done, total)`` as work gets done,
optionally with a short ``note`` (``task(120, 300, note="loss 0.1234")``). ``None`` means nobody is watching.
The library never draws anything itself; the CLI turns tasks into rich progress bars
(``ncse_cli/cli/_progress.py``), a test can record them in a list.
"""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    """One stage of work: ``task(done, total)`` after each unit; ``note`` replaces the stage's status text."""

    def __call__(self, done: int, total: int, note: str | None = None) -> None: ...


class Progress(Protocol):
    """Opens a :class:`Task` named ``description`` (a few words: ``score noisy test``)."""

    def __call__(self, description: str) -> Task: ...


def open_task(progress: Progress | None, description: str) -> Task:
    """``progress(description)``, or a task that shows nothing when ``progress`` is ``None``."""
    return _silent if progress is None else progress(description)


def _silent(done: int, total: int, note: str | None = None) -> None:
    """The task of a call that nobody watches."""


__all__ = ["Progress", "Task", "open_task"]
