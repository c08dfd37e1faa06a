"""Cost of cross-attention conditioning: the sequence encoder + cross-attention against the global-pool model.

For each NCSN++ preset and each encoder (``cnn``: global pooling, condition added to the time embedding;
``sequence``: 16 tokens, cross-attention at the backbone's default coarse levels) a fresh subprocess builds
the model and measures

* parameters (backbone + encoder + null condition);
* the time of a training step: the DSM objective with CFG dropout, backward, an Adam step;
* the time of one guided score evaluation at inference (``[cond; null]`` batched, keys and values cached as in
  the sampler);
* peak memory of training: the growth of the process's peak resident set size (``ru_maxrss``) from just before
  the first training step to the end, i.e. activations, gradients and Adam state on top of the built model.
  ``tracemalloc`` does not see torch's allocations and every configuration runs in its own process, so one
  configuration's peak cannot hide another's.

Times are the best of ``--steps`` repetitions after a warm-up (as ``timeit`` advises, the minimum is the least
disturbed measurement), as CPU time of the process (``time.process_time``) and as wall time. With one thread
(the default) CPU time is the compute a step needs whatever else runs on the machine; wall time is what a user
waits and depends on the load.

Run::

    .venv/bin/python benchmarks/bench_xattn.py                      # tiny and base, batch 1, 256 frames
    .venv/bin/python benchmarks/bench_xattn.py --preset tiny --frames 128 --steps 5
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ENCODERS = {"cnn": {"name": "cnn"}, "sequence": {"name": "sequence", "num_tokens": 16}}
app = typer.Typer(add_completion=False, rich_markup_mode="rich")
console = Console(width=max(Console().width, 130))


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _best_seconds(fn, repeats: int) -> tuple[float, float]:
    """Best (CPU seconds, wall seconds) of ``repeats`` calls."""
    cpu, wall = [], []
    for _ in range(repeats):
        start_cpu, start_wall = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start_wall)
    return min(cpu), min(wall)


def measure(preset: str, encoder: str, frames: int, batch: int, ref_seconds: float, steps: int) -> dict:
    """One configuration, measured in this process (call it in a fresh one)."""
    import torch

    from ncse_cli.config import from_dict
    from ncse_cli.model import ModelConfig, build_model
    from ncse_cli.objective import TrainingObjective
    from ncse_cli.sampling import Guidance

    torch.manual_seed(0)
    model = build_model(from_dict(ModelConfig, {"backbone": preset, "encoder": ENCODERS[encoder]}))
    samples = (frames - 1) * model.cfg.stft.hop_length
    gen = torch.Generator().manual_seed(0)
    clean = 0.1 * torch.randn(batch, samples, generator=gen)
    noisy = clean + 0.1 * torch.randn(batch, samples, generator=gen)
    ref = 0.1 * torch.randn(batch, int(ref_seconds * model.cfg.sample_rate), generator=gen)
    objective = TrainingObjective(model.train(), p_uncond=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def train_step() -> None:
        optimizer.zero_grad(set_to_none=True)
        objective(clean, noisy, ref, generator=gen).backward()
        optimizer.step()

    before = _peak_rss_mib()
    train_step()  # warm-up: allocator pools, Adam state
    step_cpu, step_wall = _best_seconds(train_step, steps)
    peak = _peak_rss_mib() - before
    model.eval()
    with torch.inference_mode():
        y = model.spectrogram(noisy)
        score = Guidance(model, model.encode(ref), 3.0)
        t = torch.full((batch,), 0.5)
        score(y, t, y)  # warm-up; projects the condition once
        infer_cpu, infer_wall = _best_seconds(lambda: score(y, t, y), steps)
    return {"preset": preset, "encoder": encoder, "params": sum(p.numel() for p in model.parameters()),
            "step_cpu_s": step_cpu, "step_wall_s": step_wall, "guided_cpu_s": infer_cpu,
            "guided_wall_s": infer_wall, "peak_mib": peak}


def _run_worker(args: list[str], threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


COLUMNS = [("params", "params", 1e-6, " M"), ("step_cpu_s", "train step CPU", 1, " s"),
           ("step_wall_s", "train step wall", 1, " s"), ("guided_cpu_s", "guided eval CPU", 1, " s"),
           ("peak_mib", "peak train memory", 1, " MiB")]


def _table(rows: list[dict], frames: int, batch: int, threads: int) -> Table:
    table = Table(title=f"Cross-attention cost: batch {batch}, {frames} frames, {threads} CPU thread(s); "
                        "(x) against cnn")
    table.add_column("preset")
    table.add_column("encoder")
    for _, title, _, _ in COLUMNS:
        table.add_column(title, justify="right")
    base = {r["preset"]: r for r in rows if r["encoder"] == "cnn"}
    for r in rows:
        ref = base.get(r["preset"], r)
        cells = []
        for key, _, scale, unit in COLUMNS:
            ratio = "" if ref is r else f" ({r[key] / max(ref[key], 1e-12):.2f}x)"
            cells.append(f"{r[key] * scale:.{0 if key == 'peak_mib' else 2}f}{unit}{ratio}")
        table.add_row(r["preset"], r["encoder"], *cells)
    return table


@app.command()
def main(
    preset: Annotated[list[str], typer.Option(help="NCSN++ presets to compare (repeatable).")] = ["tiny", "base"],
    frames: Annotated[int, typer.Option(help="STFT frames per training example (256 is SGMSE+'s crop).")] = 256,
    batch: Annotated[int, typer.Option(help="Examples per training step.")] = 1,
    ref_seconds: Annotated[float, typer.Option(help="Noise-reference length; 2 s gives 16 distinct tokens.")] = 2.0,
    steps: Annotated[int, typer.Option(help="Timed repetitions after one warm-up (the best is shown).")] = 3,
    threads: Annotated[int, typer.Option(help="Torch threads per worker (1: CPU times independent of the "
                                                "machine's load).")] = 1,
    json_out: Annotated[bool, typer.Option("--json", help="Also print the rows as JSON.")] = False,
    worker: Annotated[bool, typer.Option("--worker", hidden=True)] = False,
    worker_args: Annotated[list[str] | None, typer.Argument(hidden=True)] = None,
) -> None:
    """Parameters, training step time, guided inference time and peak training memory: cnn vs sequence."""
    if worker:
        import torch

        torch.set_num_threads(threads)
        p, enc, f, b, r, s = worker_args
        print(json.dumps(measure(p, enc, int(f), int(b), float(r), int(s))))
        return
    configs = [(p, enc) for p in preset for enc in ENCODERS]
    rows = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("measuring", total=len(configs))
        for p, enc in configs:
            progress.update(task, description=f"{p} / {enc}")
            rows.append(_run_worker([p, enc, str(frames), str(batch), str(ref_seconds), str(steps),
                                     "--threads", str(threads)], threads))
            progress.advance(task)
    console.print(_table(rows, frames, batch, threads))
    if json_out:
        console.print_json(json.dumps(rows))


if __name__ == "__main__":
    app()
