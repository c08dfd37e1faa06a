"""Speed of the training loop itself: ``ncse_cli.training.train`` on a small demo corpus.

For each variant of ``recipes/tiny.yaml`` (the CPU demo recipe: fp32 with the CNN encoder, bf16, and the
unconditioned baseline) a run of ``--steps`` steps logs every step, so ``train_log.csv``'s ``seconds`` column
gives each step's wall time (data loading, forward, backward, clipping, Adam, EMA update, logging). The table
shows the median step, the validation at the end (EMA loss plus enhanced utterances), the whole call (model
building, data, checkpoint, export included), the process CPU time, and the time the recipe's full schedule
would take at that pace. Wall times depend on the machine's load; CPU time much less so.

Run::

    .venv/bin/python benchmarks/bench_train.py                  # 30 steps per variant, one thread
    .venv/bin/python benchmarks/bench_train.py --steps 60 --threads 2
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table

from ncse_cli.data.prepare.demo import DemoConfig, prepare_demo
from ncse_cli.training import read_train_log, run_config_for, train

RECIPE = Path(__file__).parents[1] / "recipes" / "tiny.yaml"
VARIANTS = {
    "tiny, cnn, fp32": {},
    "tiny, cnn, bf16": {"train": {"mixed_precision": "bf16"}},
    "tiny, no encoder (baseline)": {"model": {"encoder": "none"}, "train": {"p_uncond": 0.0}},
}
#: ``--base``: SGMSE+'s 65 M-parameter NCSN++ in both precisions (batch 1, a small validation).
_BASE = {"model": {"backbone": "base", "encoder": "none"},
         "train": {"p_uncond": 0.0, "batch_size": 1, "val_items": 1, "val_utterances": 1, "val_steps": 1}}
BASE_VARIANTS = {"base, no encoder, fp32": _BASE,
                 "base, no encoder, bf16": {**_BASE, "train": {**_BASE["train"], "mixed_precision": "bf16"}}}


def measure(data: Path, workdir: Path, name: str, overrides: dict, steps: int) -> dict[str, float]:
    """Train one variant for ``steps`` steps and read its timings back from the run's log."""
    schedule = {"steps": steps, "log_every": 1, "val_every": steps, "save_every": steps}
    cfg = run_config_for(workdir, name, recipe=RECIPE, data=data,
                         overrides={**overrides, "train": {**overrides.get("train", {}), **schedule}})
    wall, cpu = time.perf_counter(), time.process_time()
    run_dir = train(cfg, workdir, name)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    seconds = [row["seconds"] for row in read_train_log(run_dir / "train_log.csv")]
    step = statistics.median(b - a for a, b in zip(seconds[:-2], seconds[1:-1]))
    full = run_config_for(workdir, name, recipe=RECIPE, data=data).train.steps
    return {"step": step, "validation": seconds[-1] - seconds[-2] - step, "call": wall, "cpu": cpu,
            "full": full * step, "full_steps": full}


def main(steps: Annotated[int, typer.Option(help="Training steps per variant.")] = 30,
         threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
         base: Annotated[bool, typer.Option(help="Also time the 65 M-parameter base NCSN++ in fp32 and bf16 "
                                                 "(batch 1; seconds per step on a CPU).")] = False) -> None:
    """Time the training loop on the tiny recipe's variants (and ``--base``) and print a table."""
    torch.set_num_threads(threads)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "demo"
        prepare_demo(data, config=DemoConfig(num_train=32, num_valid=8, num_test=1))
        table = Table(title=f"training loop, {steps} steps, batch 4 (base: 1) x 64 frames, {threads} thread(s)")
        for column in ("variant", "median step (s)", "steps/s", "final validation (s)", "whole call (s)",
                       "CPU (s)", "recipe's schedule (s)"):
            table.add_column(column, justify="right" if column != "variant" else "left")
        variants = {**VARIANTS, **(BASE_VARIANTS if base else {})}
        for i, (label, overrides) in enumerate(variants.items()):
            r = measure(data, Path(tmp) / "ws", f"v{i}", overrides, steps)
            table.add_row(label, f"{r['step']:.3f}", f"{1 / r['step']:.2f}", f"{r['validation']:.2f}",
                          f"{r['call']:.1f}", f"{r['cpu']:.1f}", f"{r['full']:.0f} ({r['full_steps']:.0f} steps)")
        console.print(table)


if __name__ == "__main__":
    typer.run(main)
