"""Speed of enhancement and scoring: real-time factors of ``enhance_files`` and utterances per second of scoring.

Enhancement: the tiny and base NCSN++ presets (untrained weights: speed does not depend on them) with the CNN
encoder enhance 2 s utterances at 16 kHz with predictor-corrector and ODE sampling, unguided (w = 1) and guided
(w = 3, two branches per step), at batch sizes 1 and 4 (equal-length utterances, one forward pass per batch).
Scoring: PESQ + ESTOI + SI-SDR of 2 s utterances, in 1 and 2 worker processes. Wall times depend on the load of
the machine; CPU times much less (the table shows both).

Run::

    .venv/bin/python benchmarks/bench_enhance.py                    # one torch thread
    .venv/bin/python benchmarks/bench_enhance.py --threads 2 --steps 30 --presets tiny,base
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table

from ncse_cli.config import from_dict
from ncse_cli.evaluation.scoring import ScoreJob, score_files
from ncse_cli.inference.enhancer import Enhancer
from ncse_cli.inference.jobs import resolve_inputs
from ncse_cli.inference.settings import EnhanceSettings
from ncse_cli.model import ModelConfig, build_model
from ncse_cli.model_dir import save_model
from tests.dummies import noise, speech, write_wav

SECONDS = 2.0


def make_inputs(folder: Path, count: int) -> list[Path]:
    """``count`` noisy 2 s utterances and their clean references."""
    for i in range(count):
        clean = speech(SECONDS, seed=i, talker=i)
        write_wav(folder / "clean" / f"u{i}.wav", clean, 16000)
        write_wav(folder / "noisy" / f"u{i}.wav", clean + noise(SECONDS, seed=100 + i, level=0.05), 16000)
    return sorted((folder / "noisy").glob("*.wav"))


def time_enhance(model_dir: Path, folder: Path, out: Path, settings: EnhanceSettings) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, real-time factor) of enhancing every file of ``folder``."""
    enhancer = Enhancer.load(model_dir, settings)
    inputs = resolve_inputs(folder, out, noise_ref=folder.parent / "ref.wav")
    wall, cpu = time.perf_counter(), time.process_time()
    report = enhancer.run(inputs)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return wall, cpu, wall / report.audio_seconds


def main(threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
         steps: Annotated[int, typer.Option(help="Sampler steps.")] = 10,
         presets: Annotated[str, typer.Option(help="Backbone presets, comma-separated.")] = "tiny",
         utterances: Annotated[int, typer.Option(help="Utterances per enhancement measurement.")] = 4,
         score_utterances: Annotated[int, typer.Option(help="Utterances per scoring measurement.")] = 256) -> None:
    """Time enhancement and scoring and print two tables."""
    torch.set_num_threads(threads)
    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        noisy = make_inputs(root / "data", utterances)
        write_wav(root / "data" / "ref.wav", noise(0.5, seed=7, level=0.05), 16000)
        table = Table(title=f"enhancement of {utterances} x {SECONDS:g} s, {steps} steps, {threads} thread(s)")
        for column in ("preset", "sampler", "w", "batch", "wall (s)", "CPU (s)", "real-time factor"):
            table.add_column(column, justify="left" if column in ("preset", "sampler") else "right")
        for preset in presets.split(","):
            model = build_model(from_dict(ModelConfig, {"backbone": preset})).eval()
            for sampler in ("pc", "ode"):  # the sampler a model directory is saved with is the one it uses
                model_dir = save_model(model, root / f"{preset}-{sampler}", config={"sampler": {"name": sampler}})
                for w, batch in ((1.0, 1), (1.0, 4), (3.0, 1)):
                    out = root / "out" / f"{preset}-{sampler}-{w}-{batch}"
                    wall, cpu, rtf = time_enhance(model_dir, root / "data" / "noisy", out,
                                                  EnhanceSettings(w=w, steps=steps, batch_size=batch))
                    table.add_row(preset, sampler, f"{w:g}", str(batch), f"{wall:.1f}", f"{cpu:.1f}", f"{rtf:.2f}")
        console.print(table)
        scoring = Table(title=f"scoring {score_utterances // len(noisy) * len(noisy)} x {SECONDS:g} s "
                                f"(PESQ, ESTOI, SI-SDR)")
        for column in ("workers", "wall (s)", "utterances/s"):
            scoring.add_column(column, justify="right")
        copies = score_utterances // len(noisy)
        jobs = [ScoreJob(p.stem, p, root / "data" / "clean" / p.name) for p in noisy] * copies
        for workers in (1, 2, 4):
            wall = time.perf_counter()
            score_files(jobs, workers)
            wall = time.perf_counter() - wall
            scoring.add_row(str(workers), f"{wall:.1f}", f"{len(jobs) / wall:.1f}")
        console.print(scoring)


if __name__ == "__main__":
    typer.run(main)
