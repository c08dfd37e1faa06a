"""Cost of the pre-trained noise encoders: encoding a reference, and a training step with a frozen tower.

* **Encoding**: one reference (batch 1) of ``0.25 s`` and ``1 s`` at 16 kHz through the frozen tower
  (resampling, window fitting, tower, projection), in eval mode without autograd, as ``enhance`` encodes once
  per utterance. CLAP always runs its full 10 s window at 48 kHz and PANNs its ``window_seconds`` (default 2 s)
  at 32 kHz, so the reference length barely matters; the ``cached`` row is the same reference again under a
  key (the embedding cache answers, only the projection runs).
* **Training step**: the DSM objective with CFG dropout, backward and an Adam step on the ``tiny`` NCSN++ with a
  batch of ``--batch`` 2 s mixtures and 0.25 s references, for the ``cnn`` encoder and for a frozen ``clap``
  encoder without cache hits (fresh references every step, as with dynamic mixing) and with them (a static
  manifest after its first epoch).

Towers are randomly initialised (speed does not depend on the weights) unless ``--clap-ckpt`` / ``--panns-ckpt``
give official files. Times are the best of ``--repeats`` after a warm-up, as wall time and as the process's CPU
time; other processes sharing the cores inflate the wall time, much less the CPU time.

Run::

    .venv/bin/python benchmarks/bench_encoders.py
    .venv/bin/python benchmarks/bench_encoders.py --repeats 5 --batch 8 --threads 2
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Callable, Optional

import torch
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from safetensors.torch import save_file

from ncse_cli.config import from_dict
from ncse_cli.encoders import ENCODERS, EncoderContext
from ncse_cli.model import ModelConfig, build_model
from ncse_cli.objective import TrainingObjective

RATE = 16000


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeats`` calls after one warm-up call."""
    fn()
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def random_checkpoint(name: str, folder: Path) -> str:
    """A randomly initialised tower saved as a flat safetensors state in its official key names."""
    cls = ENCODERS.get(name)
    tower = cls(cls.Config(ckpt=str(folder / "none")), EncoderContext()).tower  # no file: random weights
    state = tower.state_dict() if name == "clap" else tower.cnn14.state_dict()
    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return str(path)


def encoding_rows(name: str, ckpt: str, repeats: int) -> list[tuple[str, float, float]]:
    """Per-reference encoding time for 0.25 s and 1 s references, then a cached one."""
    cls = ENCODERS.get(name)
    enc = cls(cls.Config(ckpt=ckpt), EncoderContext(RATE)).eval()
    rows = []
    for seconds in (0.25, 1.0):
        ref = 0.1 * torch.randn(1, int(seconds * RATE), generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            rows.append((f"{name}, {seconds:g} s reference", *best_of(lambda: enc(ref), repeats)))
    with torch.no_grad():
        rows.append((f"{name}, 1 s reference, cached", *best_of(lambda: enc(ref, None, ["ref.wav:0"]), repeats)))
    return rows


def training_step(encoder: dict, batch: int, repeats: int, fresh_refs: bool) -> tuple[float, float]:
    """Best step time of the tiny model with ``encoder``: DSM + CFG dropout, backward, Adam."""
    cfg = from_dict(ModelConfig, {"backbone": "tiny", "encoder": encoder})
    torch.manual_seed(0)
    model = build_model(cfg).train()
    objective = TrainingObjective(model, p_uncond=0.2)
    optimizer = torch.optim.Adam([g for g in model.parameter_groups(1e-4) if g["params"]])
    gen = torch.Generator().manual_seed(0)
    clean = 0.3 * torch.randn(batch, 2 * RATE, generator=gen)
    noisy = clean + 0.1 * torch.randn(batch, 2 * RATE, generator=gen)
    step = {"n": 0}

    def run() -> None:
        step["n"] += 1
        ref = 0.1 * torch.randn(batch, RATE // 4, generator=gen)
        keys = [f"ref{i}:{step['n'] if fresh_refs else 0}" for i in range(batch)]
        if not fresh_refs:
            ref = 0.1 * torch.randn(batch, RATE // 4, generator=torch.Generator().manual_seed(1))
        loss = objective(clean, noisy, ref, None, keys, generator=gen)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return best_of(run, repeats)


def main(
    repeats: Annotated[int, typer.Option(help="Timed repetitions per measurement (after one warm-up).")] = 3,
    batch: Annotated[int, typer.Option(help="Training batch size (mixtures of 2 s, references of 0.25 s).")] = 4,
    threads: Annotated[int, typer.Option(help="torch intra-op threads.")] = 2,
    clap_ckpt: Annotated[Optional[Path], typer.Option(help="Official CLAP checkpoint (default: random tower).")] = None,
    panns_ckpt: Annotated[Optional[Path], typer.Option(help="Official Cnn14 checkpoint (default: random tower).")] = None,
) -> None:
    """Encoding time per reference (CLAP, PANNs) and training-step time (cnn vs frozen CLAP), as a table."""
    torch.set_num_threads(threads)
    console = Console()
    table = Table(title=f"Pre-trained encoders on this CPU ({threads} threads, best of {repeats})")
    for column in ("measurement", "wall ms", "CPU ms"):
        table.add_column(column, justify="right" if column != "measurement" else "left")
    with tempfile.TemporaryDirectory() as tmp, Progress(console=console, transient=True) as progress:
        ckpts = {"clap": str(clap_ckpt) if clap_ckpt else random_checkpoint("clap", Path(tmp)),
                 "panns": str(panns_ckpt) if panns_ckpt else random_checkpoint("panns", Path(tmp))}
        jobs = [(f"encode {name}", lambda name=name: encoding_rows(name, ckpts[name], repeats))
                for name in ("clap", "panns")]
        jobs += [(label, lambda enc=enc, fresh=fresh, label=label: [
                     (f"train step, batch {batch}, {label}", *training_step(enc, batch, repeats, fresh))])
                 for label, enc, fresh in (
                     ("cnn encoder", "cnn", True),
                     ("frozen clap, new references", {"name": "clap", "ckpt": ckpts["clap"]}, True),
                     ("frozen clap, cached references", {"name": "clap", "ckpt": ckpts["clap"]}, False))]
        task = progress.add_task("measuring", total=len(jobs))
        for label, job in jobs:
            progress.update(task, description=label)
            for row, wall, cpu in job():
                table.add_row(row, f"{1000 * wall:.1f}", f"{1000 * cpu:.1f}")
            progress.advance(task)
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
