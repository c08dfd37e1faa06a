"""``ncse enhance``: enhance a file, a folder or a manifest's noisy files with a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, given, user_errors
from ncse_cli.cli._options import (W_HELP, BatchSize, Device, Model, Precision, Sampler, Seed, ShowProgress,
                                   Steps, Workdir)
from ncse_cli.cli._progress import task_bars


@user_errors
def enhance_command(
    model: Model,
    input: Annotated[Path, typer.Option("--input", "-i", help="A noisy audio file, a folder of them (searched "
                                        "recursively), or a JSONL manifest.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one WAV per input, at the input's sample "
                                      "rate and length; existing outputs are kept, so a re-run continues (with "
                                      "another model or settings it is refused).",
                                      show_default=False)],
    noise_ref: Annotated[Optional[Path], typer.Option(help="Noise-only reference for every input (replaces a "
                                                      "manifest's references). Without any reference the model "
                                                      "enhances unconditionally.", show_default=False)] = None,
    w: Annotated[Optional[float], typer.Option("--guidance-scale", "-w", min=0.0, help=W_HELP)] = None,
    steps: Steps = None,
    sampler: Sampler = None,
    seed: Seed = None,
    batch_size: BatchSize = None,
    device: Device = None,
    precision: Precision = None,
    workdir: Workdir = None,
    progress: ShowProgress = True,
) -> None:
    """Enhance noisy speech files with a trained model.

    Outputs keep each input's sample rate and length (resampled in and back out when the model's rate differs);
    stereo input is mixed down. With a manifest each row's noise reference is used.
    """
    from ncse_cli import api

    settings = api.EnhanceSettings(**given(w=w, steps=steps, sampler=sampler, seed=seed, batch_size=batch_size,
                                           device=device, precision=precision))
    with task_bars(progress) as bars:
        report = api.enhance(model, input, out, noise_ref=noise_ref, settings=settings, workdir=workdir,
                             progress=bars)
    table = Table(title=f"ncse enhance with {escape(report.model)}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [("input", f"{escape(str(input))} ({report.kind})"), ("output folder", escape(str(report.out_dir))),
            ("enhanced", str(report.written)), ("already there (kept)", str(report.skipped)),
            ("without a reference", str(report.unconditional)), ("audio", f"{report.audio_seconds:.1f} s"),
            ("time", f"{report.seconds:.1f} s")]
    if report.written:
        rows.append(("real-time factor", f"{report.real_time_factor:.2f}"))
    for row in rows:
        table.add_row(*row)
    console.print(table)
