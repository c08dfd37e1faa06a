"""The one worker pool: results in item order whatever the workers, progress as results arrive, errors raised."""

import os
import time

import pytest

from ncse_cli.workers import call, run_parallel

pytestmark = pytest.mark.xdist_group("forkserver")  # see tests/conftest.py


def slow_square(x: int) -> tuple[int, int]:
    time.sleep(0.05 * (x % 3))  # later items may finish first
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x * x, os.getpid()


def test_results_come_in_item_order_from_worker_processes():
    seen, polls = [], []
    results = run_parallel(slow_square, list(range(7)), workers=2, chunksize=2,
                           on_result=lambda i, r: seen.append(i), poll=lambda: polls.append(1))
    assert [r for r, _ in results] == [x * x for x in range(7)]
    assert sorted(seen) == list(range(7))
    assert {pid for _, pid in results} - {os.getpid()}, "the work ran in other processes"
    assert os.getpid() not in {pid for _, pid in results}


def test_one_worker_runs_here_and_errors_are_raised_here():
    assert run_parallel(slow_square, [2, 3]) == [(4, os.getpid()), (9, os.getpid())]
    assert run_parallel(call, [(divmod, (7, 2)), (max, (1, 5))]) == [(3, 1), 5]
    with pytest.raises(ValueError, match="negative: -1"):
        run_parallel(slow_square, [1, -1, 2], workers=2)
