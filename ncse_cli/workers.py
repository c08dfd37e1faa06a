"""The one way ncse runs work in parallel: worker processes from a fork server, one torch thread each.

Used by data preparation (one task per manifest row), scoring (one per utterance) and the demo (one per model).
Workers are started by ``forkserver``, not ``fork``: forking a process that has run torch's OpenMP kernels can
deadlock its children, and a fork server that only imported the task's module forks clean workers quickly once
started. Each worker runs torch on one thread: on a small shared CPU, N single-threaded processes are faster
than N processes whose threads spin waiting for each other. Results come back in the order of the items
whatever the number of workers, so nothing downstream depends on ``workers``.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Seconds between two calls of ``poll`` while waiting for workers.
POLL_SECONDS = 0.5

_PRELOAD: list[str] = []


def preload(*modules: str) -> None:
    """Have the fork server import ``modules`` too when it starts (it starts with this process's first pool and
    serves every later one): what all of this process's workers need is then imported once, not once per
    worker (e.g. the experiment runner's training workers, each of which would import the training stack)."""
    _PRELOAD.extend(m for m in modules if m not in _PRELOAD)


def run_parallel(fn: Callable[[T], R], items: Sequence[T], workers: int = 1, *,
                 on_result: Callable[[int, R], None] | None = None, poll: Callable[[], None] | None = None,
                 chunksize: int = 1, preload: str | None = None) -> list[R]:
    """``[fn(item) for item in items]``, in ``workers`` processes when more than one, else in this process.

    ``on_result(index, result)`` runs here, in this process, as each result arrives (in completion order);
    ``poll()`` runs about every :data:`POLL_SECONDS` while waiting (to read progress from disk). ``chunksize``
    items travel to a worker together (cheap items). ``fn`` must be picklable: a module-level function, or a
    ``functools.partial`` of one; its module (or ``preload``) is imported once by the fork server. A worker's
    error is raised here, and items not started yet are cancelled.
    """
    if workers <= 1:
        results = []
        for index, item in enumerate(items):
            results.append(fn(item))
            if on_result is not None:
                on_result(index, results[-1])
        return results
    chunks = [list(range(start, min(start + chunksize, len(items)))) for start in range(0, len(items), chunksize)]
    context = multiprocessing.get_context("forkserver")
    module = preload or getattr(fn, "func", fn).__module__
    if module != "__main__":  # the caller's script may be unguarded: never import it in the fork server
        context.set_forkserver_preload([*_PRELOAD, module])
    results: list[Any] = [None] * len(items)
    pool = ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context, initializer=_one_thread)
    try:
        pending: dict[Future, list[int]] = {pool.submit(_run_chunk, fn, [items[i] for i in chunk]): chunk
                                            for chunk in chunks}
        while pending:
            finished, _ = wait(pending, timeout=POLL_SECONDS if poll is not None else None,
                               return_when=FIRST_COMPLETED)
            for future in finished:
                for index, result in zip(pending.pop(future), future.result()):
                    results[index] = result
                    if on_result is not None:
                        on_result(index, result)
            if poll is not None:
                poll()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def call(task: tuple[Callable[..., R], tuple]) -> R:
    """``fn(*args)`` of a ``(fn, args)`` pair: runs unlike calls side by side with :func:`run_parallel`."""
    fn, args = task
    return fn(*args)


def _run_chunk(fn: Callable[[T], R], items: list[T]) -> list[R]:
    return [fn(item) for item in items]


def _one_thread() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # read by torch when the task imports it later
    torch = sys.modules.get("torch")  # already imported by the task's module in the fork server
    if torch is not None:
        torch.set_num_threads(1)


__all__ = ["POLL_SECONDS", "call", "run_parallel"]
