"""``ncse evaluate``: enhance test sets at guidance scales, score PESQ/ESTOI/SI-SDR, store and summarise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional, Sequence

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli import api
from ncse_cli.cli._common import console, user_errors
from ncse_cli.cli._options import BatchSize, Device, Model, Seed, ShowProgress, Steps, Workdir
from ncse_cli.cli._progress import task_bars
from ncse_cli.evaluation import ScoreSummary
from ncse_cli.metrics import DEFAULT_METRICS
from ncse_cli.report.tables import format_summary, metric_heading

CFG_SCALE_FLAGS = ("--cfg-scale", "-w")


@user_errors
def evaluate_command(
    model: Model,
    testset: Annotated[list[Path], typer.Option("--testset", "-t", help="Test manifest (JSONL with clean files); "
                                                "repeat for several.", show_default=False)],
    cfg_scale: Annotated[Optional[list[float]], typer.Option(*CFG_SCALE_FLAGS, help="Guidance scales, several after "
                                                             "one flag: --cfg-scale 1 3 5 or -w 1 3 5 \\[default: 1]. Ignored "
                                                             "for an unconditioned model (evaluated once, w -).",
                                                             show_default=False)] = None,
    steps: Steps = None,
    seed: Seed = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Metric worker processes (used from 64 utterances on; fewer "
                                      "are scored faster in this process).")] = 1,
    batch_size: BatchSize = 1,
    device: Device = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace earlier results of this model made with other settings "
                                            "(weights, sampler, seed) or older metrics.")] = False,
    workdir: Workdir = None,
    progress: ShowProgress = True,
) -> None:
    """Evaluate a model on test sets: PESQ, ESTOI and SI-SDR per utterance, stored in the workspace.

    The noisy input is scored once per test set; each guidance scale enhances the test set once. Finished work is
    reused and an interrupted run continues where it stopped; [bold]ncse report[/] tabulates the results.
    """
    with task_bars(progress) as bars:
        summaries = api.evaluate(model, testset, cfg_scales=cfg_scale or [1.0], steps=steps, seed=seed, jobs=jobs,
                                 batch_size=batch_size, overwrite=overwrite, device=device, workdir=workdir, progress=bars)
    console.print(summary_table(summaries, f"ncse evaluate {escape(model)}"))


def summary_table(summaries: Sequence[ScoreSummary], title: str) -> Table:
    """Test set | model | w | metrics (mean ± 95% CI) | n."""
    table = Table(title=title, title_justify="left")
    for column in ("test set", "model", "w"):
        table.add_column(column)
    for metric in DEFAULT_METRICS:
        table.add_column(metric_heading(metric), justify="right")
    table.add_column("n", justify="right")
    for s in summaries:
        model = "[dim]noisy input[/]" if s.is_noisy else escape(s.model or "")
        table.add_row(escape(s.testset.name), model, s.scale_text,
                      *(format_summary(s.metrics.get(m), m) for m in DEFAULT_METRICS), str(s.utterances))
    return table
