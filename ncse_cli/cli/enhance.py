"""``ncse enhance``: enhance a file, a folder or a manifest's noisy files with a trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, given, user_errors
from ncse_cli.cli._options import (W_HELP, BatchSize, Device, Model, Overlap, Precision, Sampler, Seed,
                                   ShowProgress, Steps, Window, Workdir)
from ncse_cli.cli._progress import task_bars


@user_errors
def enhance_command(
    model: Model,
    input: Annotated[Path, typer.Option("--input", "-i", help="A noisy audio file, a folder of them (searched "
                                        "recursively), or a JSONL manifest.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: one WAV per input, at the input's sample "
                                      "rate and length; existing outputs made from the same inputs are kept, so a "
                                      "re-run continues (with another model or settings it is refused; changed "
                                      "inputs: --on-changed).",
                                      show_default=False)],
    noise_ref: Annotated[Optional[str], typer.Option(metavar="[auto|none|PATH]", help="What a conditioned model "
                                                     "is given besides the input: auto = a noise reference cut from "
                                                     "the input's own pauses (where from: <output>.noise-ref.json; "
                                                     "without a long enough pause, the null condition); none = no "
                                                     "reference (unconditional); PATH = this noise-only file for "
                                                     "every input. A manifest row's own reference comes first, "
                                                     "except with PATH.")] = None,
    w: Annotated[Optional[float], typer.Option("--guidance-scale", "-w", min=0.0, help=W_HELP)] = None,
    steps: Steps = None,
    sampler: Sampler = None,
    seed: Seed = None,
    batch_size: BatchSize = None,
    device: Device = None,
    precision: Precision = None,
    window: Window = None,
    overlap: Overlap = None,
    on_changed: Annotated[Optional[str], typer.Option(metavar="[reenhance|refuse]", help="An existing output made "
                                                      "from another input than today's (another recording of the "
                                                      "same name, a file edited since, or reference changed; "
                                                      "each output's input is recorded by its SHA-256 and size in "
                                                      "<out>/.ncse-inputs.jsonl): reenhance = enhance it again over "
                                                      "the old output, refuse = stop before writing anything and "
                                                      "name the file.")] = None,
    subtype: Annotated[Optional[str], typer.Option(metavar="[FLOAT|DOUBLE|PCM_16|PCM_24|PCM_32]", help="Sample "
                                                   "format of the output WAVs: FLOAT = 32-bit float (no clipping, "
                                                   "no rounding), DOUBLE, or integer PCM (samples beyond full "
                                                   "scale are clipped, with a warning).")] = None,
    workdir: Workdir = None,
    progress: ShowProgress = True,
) -> None:
    """Enhance noisy speech files with a trained model.

    Outputs are WAVs (32-bit float unless --subtype says otherwise) that keep each input's sample rate and length
    (resampled in and back out when the model's rate differs); stereo input is mixed down. A folder and a single
    file accept the same formats: WAV, FLAC, Ogg/Opus, MP3, AIFF, CAF, W64, RF64, AU. A file longer than one window is enhanced window by window in bounded memory.
    """
    from ncse_cli import api

    settings = api.EnhanceSettings(**given(w=w, steps=steps, sampler=sampler, seed=seed, batch_size=batch_size,
                                           device=device, precision=precision, window=window, overlap=overlap,
                                           on_changed=on_changed, subtype=subtype))
    with task_bars(progress) as bars:
        report = api.enhance(model, input, out, **given(noise_ref=noise_ref), settings=settings, workdir=workdir,
                             progress=bars)
    table = Table(title=f"ncse enhance with {escape(report.model)}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [("input", f"{escape(str(input))} ({report.kind})"), ("output folder", escape(str(report.out_dir))),
            ("enhanced", str(report.written)), ("already there (kept)", str(report.skipped)),
            ("of which input changed (enhanced again)", str(report.changed)),
            ("reference from its pauses", str(report.auto_references)),
            ("without a reference", str(report.unconditional)), ("in windows (long files)", str(report.windowed)),
            ("audio", f"{report.audio_seconds:.1f} s"),
            ("time", f"{report.seconds:.1f} s")]
    if report.written:
        rows.append(("real-time factor", f"{report.real_time_factor:.2f}"))
    for row in rows:
        table.add_row(*row)
    console.print(table)
