"""``ncse demo``: prepare the synthetic corpus, train two tiny models, evaluate them, print the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markdown import Markdown
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, given, user_errors
from ncse_cli.cli._options import ShowProgress
from ncse_cli.cli._progress import task_bars

if TYPE_CHECKING:
    from ncse_cli.api import DemoResult


@user_errors
def demo_command(
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the demo's data (out/data), "
                                                    "models and evaluations (out/runs) and report "
                                                    "(out/report.md).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Seed of the corpus, training and sampling.")] = None,
    train_steps: Annotated[Optional[int], typer.Option(min=1, help="Training steps per model.")] = None,
    sampler_steps: Annotated[Optional[int], typer.Option("--steps", min=1, help="Sampler steps for the "
                                                         "evaluation.")] = None,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Worker processes: the two models train and are "
                                                "evaluated side by side, one torch thread each (1: all in this "
                                                "process).")] = None,
    ws: Annotated[Optional[list[float]], typer.Option("--guidance-scale", "-w", min=0, help="Guidance scale of the "
                                                      "conditioned model; repeat for several (-w 1 -w 3) "
                                                      "\\[default: 1].", show_default=False)] = None,
    dnsmos: Annotated[Optional[bool], typer.Option("--dnsmos/--no-dnsmos", help="Score DNSMOS too (about a minute "
                                                   "more on two CPU cores).", show_default="no-dnsmos")] = None,
    progress: ShowProgress = True,
) -> None:
    """Run the whole pipeline offline on synthetic data and print the report (a few minutes on a CPU).

    Trains a noise-conditioned model (noise-profile encoder, p_uncond 0.2) and the unconditioned baseline,
    evaluates both and prints the report built from the files it wrote. A re-run reuses finished stages.
    """
    from ncse_cli import api

    with task_bars(progress) as bars:
        result = api.demo(progress=bars, **given(out_dir=out_dir, seed=seed, train_steps=train_steps,
                                                 sampler_steps=sampler_steps, jobs=jobs, dnsmos=dnsmos,
                                                 ws=tuple(ws) if ws else None))
    if console.is_terminal:
        console.print(Markdown(result.report.markdown))
    else:
        typer.echo(result.report.markdown, nl=False)
    console.print(training_table(result))
    table = Table(title="time", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for stage, seconds in result.seconds.items():
        table.add_row(stage, f"{seconds:.1f} s")
    table.add_row("total", f"{sum(result.seconds.values()):.1f} s")
    console.print(table)
    console.print(f"report: {escape(str(result.report_path))} (and .html); the experiment's report with the "
                  f"embedding diagnosis and figures: {escape(str(result.experiment_report))}; models: "
                  f"[bold]ncse models list --workdir {escape(str(result.workspace.root))}[/]")


def training_table(result: DemoResult) -> Table:
    """What each model learned: first and last training loss, final validation loss and SI-SDR."""
    table = Table(title="training (from train_log.csv)", title_justify="left")
    for column in ("model", "steps", "first loss", "last loss", "validation loss", "validation SI-SDR"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=column == "model")
    for name, run in result.runs.items():
        table.add_row(escape(name), str(run.steps), f"{result.first_loss[name]:.3f}", f"{run.loss:.3f}",
                      f"{run.val_loss:.3f}", f"{run.val_si_sdr:.1f} dB")
    return table
