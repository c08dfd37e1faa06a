"""``ncse evaluate``: enhance test sets at guidance scales, score PESQ/ESTOI/SI-SDR/DNSMOS, store and summarise."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, Sequence

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, given, user_errors
from ncse_cli.cli._options import (W_HELP, BatchSize, Device, Model, Overlap, Precision, Sampler, ShowProgress,
                                   Steps, Window, Workdir)
from ncse_cli.cli._progress import task_bars

if TYPE_CHECKING:
    from ncse_cli.api import ScoreSummary

#: The flags that take several numbers after one flag: guidance scales and sampler seeds.
W_FLAGS = ("--guidance-scale", "-w")
SEED_FLAGS = ("--seed",)
#: The flag that takes several reference conditions after it.
REFERENCE_FLAGS = ("--reference", "-r")


@user_errors
def evaluate_command(
    model: Model,
    testset: Annotated[list[Path], typer.Option("--testset", "-t", help="Test manifest (JSONL); rows without a "
                                                "clean file are scored with DNSMOS alone. Repeat for several.",
                                                show_default=False)],
    ws: Annotated[Optional[list[float]], typer.Option(*W_FLAGS, help=f"{W_HELP} Several after one flag: -w 1 3 5. "
                                                      "Ignored for an unconditioned model (evaluated once, w -).",
                                                      show_default=False)] = None,
    references: Annotated[Optional[list[str]], typer.Option(*REFERENCE_FLAGS, help="Reference conditions, several "
                                                            "after one flag: matched (each row's own), null (none: "
                                                            "w = 0), same-type, mismatched (another noise type's), "
                                                            "white, oracle (the mixture's own noise), auto (cut from "
                                                            "the mixture's pauses); a length as in matched-0.5s. "
                                                            "Results of each lie side by side.",
                                                            show_default=False)] = None,
    steps: Steps = None,
    sampler: Sampler = None,
    seeds: Annotated[Optional[list[int]], typer.Option(*SEED_FLAGS, help="Seeds of the sampler noise, several after "
                                                       "one flag (--seed 0 1 2); the results of each are kept side "
                                                       "by side (folders w1, w1.seed1, ...).",
                                                       show_default=False)] = None,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Metric worker processes (used from 64 utterances on; "
                                                "fewer are scored faster in this process).")] = None,
    batch_size: BatchSize = None,
    device: Device = None,
    precision: Precision = None,
    window: Window = None,
    overlap: Overlap = None,
    dnsmos: Annotated[bool, typer.Option(help="Also score DNSMOS SIG, BAK and OVRL (no clean file needed; up to 2 s "
                                         "per utterance shorter than 9 s on one core, 5-10 times PESQ, ESTOI and "
                                         "SI-SDR together).")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace earlier results of this model made with other settings "
                                            "(weights, sampler, seed) or older metrics.")] = False,
    workdir: Workdir = None,
    progress: ShowProgress = True,
) -> None:
    """Evaluate a model on test sets: PESQ, ESTOI, SI-SDR and DNSMOS per utterance, stored in the workspace.

    The noisy input is scored once per test set; each guidance scale, reference condition and sampler seed
    enhances the test set once, into its own folder. Finished work is reused and an interrupted run continues where
    it stopped; [bold]ncse report[/] tabulates the results.
    """
    from ncse_cli import api

    settings = api.EnhanceSettings(**given(steps=steps, sampler=sampler, batch_size=batch_size, device=device,
                                           precision=precision, window=window, overlap=overlap))
    with task_bars(progress) as bars:
        summaries = api.evaluate(model, testset, **given(ws=ws, jobs=jobs, references=references, seeds=seeds),
                                 settings=settings, overwrite=overwrite, dnsmos=dnsmos, workdir=workdir,
                                 progress=bars)
    console.print(summary_table(summaries, f"ncse evaluate {escape(model)}"))


def summary_table(summaries: Sequence[ScoreSummary], title: str) -> Table:
    """Test set | model | w | metrics (mean ± 95% CI) | n."""
    from ncse_cli import api

    header, rows = api.summary_rows(summaries)
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(header):
        table.add_column(column, justify="right" if i >= 3 else "left")
    for summary, row in zip(summaries, rows):
        model = "[dim]noisy input[/]" if summary.is_noisy else escape(row[1])
        table.add_row(escape(row[0]), model, *(escape(cell) for cell in row[2:]))
    return table
