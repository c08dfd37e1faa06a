"""``ncse experiment run|status FILE``: a group of the research plan (recipes/plan/*.yaml) end to end."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, err_console, given, user_errors
from ncse_cli.cli._options import ShowProgress
from ncse_cli.cli._progress import task_bars

if TYPE_CHECKING:
    from ncse_cli.api import ExperimentOutcome

app = typer.Typer(help="Run a group of the research plan (an experiment file such as recipes/plan/cfg.yaml): "
                       "prepare, train, evaluate, report, resuming where it stopped; or show its status.",
                  no_args_is_help=True, rich_markup_mode="rich")

File = Annotated[Path, typer.Argument(help="An experiment file (recipes/plan/cfg.yaml, clap, panns, xattn, comb, "
                                           "ablation).", show_default=False)]
Scale = Annotated[Optional[str], typer.Option(metavar="[full|demo]", help="full: the recipes as written on the "
                                              "real corpora; demo: every model at the CPU demo's size on the "
                                              "built-in synthetic corpus and its OOD / non-stationary variants.")]
Out = Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder of the plan: OUT/SCALE/data, OUT/SCALE/runs "
                                             "(models, evaluations; shared by every group), "
                                             "OUT/SCALE/reports/GROUP/report.md.")]
MachineFile = Annotated[Optional[Path], typer.Option(help="Machine file naming where corpora and tower checkpoints "
                                                     "are (corpora: {voicebank: PATH, esc50: PATH, ...}, weights: "
                                                     "{clap: PATH, panns: PATH}) [dim](default: $NCSE_MACHINE, else "
                                                     "~/.config/ncse/machine.yaml when it exists)[/].",
                                                     show_default=False)]
Corpus = Annotated[Optional[list[str]], typer.Option(metavar="NAME=PATH", help="A corpus folder (voicebank, esc50, "
                                                     "urbansound8k, demand, wham, audioset) added to the machine "
                                                     "file; repeatable.", show_default=False)]
Weights = Annotated[Optional[list[str]], typer.Option(metavar="NAME=PATH", help="A tower checkpoint (clap, panns) "
                                                     "added to the machine file; repeatable.", show_default=False)]
TrainSteps = Annotated[Optional[int], typer.Option(min=1, help="Training steps of every model instead of the "
                                                   "scale's (a quick smoke run).", show_default=False)]
SamplerSteps = Annotated[Optional[int], typer.Option(min=1, help="Sampler steps of every evaluation instead of the "
                                                     "scale's.", show_default=False)]


@user_errors
def run_command(
    file: File,
    scale: Scale = None,
    out: Out = None,
    machine: MachineFile = None,
    corpus: Corpus = None,
    weights: Weights = None,
    train_steps: TrainSteps = None,
    sampler_steps: SamplerSteps = None,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Worker processes: models train, and evaluations run, "
                                                "side by side with one torch thread each.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan of work and its time estimate; do "
                                          "nothing.")] = False,
    progress: ShowProgress = True,
) -> None:
    """Prepare what is missing, train, evaluate and report an experiment file; finished work is skipped, so an
    interrupted run continues where it stopped."""
    from ncse_cli import api

    options = given(scale=scale, out=out, machine=machine, corpus=corpus or None, weights=weights or None,
                    train_steps=train_steps, sampler_steps=sampler_steps, jobs=jobs)
    if dry_run:
        outcome = api.experiment_run(file, dry_run=True, **options)
        console.print(work_table(outcome))
        return
    with task_bars(progress) as bars:
        outcome = api.experiment_run(file, progress=bars, **options)
    console.print(status_table(outcome))
    run = outcome.run
    if run is not None and run.seconds:
        console.print("time: " + ", ".join(f"{stage} {seconds:.0f} s" for stage, seconds in run.seconds.items())
                      + f"; total {sum(run.seconds.values()):.0f} s")
    if run is not None and run.report is not None:
        console.print(f"report: {escape(str(run.report.path))} and {escape(str(run.report.html))}")
    failed = outcome.plan.failed()
    if failed:  # the others finished; these stay pending, with their reason in the status and the report
        for unit in failed:
            err_console.print(f"[bold red]error:[/] {escape(unit.label)}: {escape(unit.note)}", soft_wrap=True)
        raise typer.Exit(1)


@user_errors
def status_command(
    file: File,
    scale: Scale = None,
    out: Out = None,
    machine: MachineFile = None,
    corpus: Corpus = None,
    weights: Weights = None,
    train_steps: TrainSteps = None,
    sampler_steps: SamplerSteps = None,
) -> None:
    """A table per experiment ID: trained steps, evaluated points, missing work."""
    from ncse_cli import api

    outcome = api.experiment_status(file, **given(scale=scale, out=out, machine=machine, corpus=corpus or None,
                                                  weights=weights or None, train_steps=train_steps,
                                                  sampler_steps=sampler_steps))
    console.print(status_table(outcome))


def status_table(outcome: ExperimentOutcome) -> Table:
    """One row per experiment ID."""
    plan = outcome.plan
    table = Table(title=f"{plan.spec.group} at scale {plan.scale_name} ({plan.layout.runs.parent})",
                  title_justify="left")
    for column in ("ID", "model", "w", "suites", "trained", "evaluated", "finished points", "missing"):
        table.add_column(column, justify="right" if column in ("w", "evaluated") else "left",
                         overflow="fold")
    for row in outcome.rows:
        done = "[green]" if row.evaluated == row.evaluations else ""
        table.add_row(row.id, escape(row.model), f"{row.w:g}", ", ".join(row.suites), row.trained,
                      f"{done}{row.evaluated}/{row.evaluations}", escape(", ".join(row.conditions)) or "-",
                      escape(row.missing) or "[green]complete[/]")
    return table


def work_table(outcome: ExperimentOutcome) -> Table:
    """The plan of work: each unit still to do (evaluations counted per model run) with its estimate."""
    plan = outcome.plan
    table = Table(title=f"plan of work: {plan.spec.group} at scale {plan.scale_name}", title_justify="left",
                  caption=outcome.estimate, caption_justify="left")
    for column in ("work", "state", "estimate", "note"):
        table.add_column(column, justify="right" if column == "estimate" else "left", overflow="fold")
    for row in outcome.work:
        state = f"[yellow]{row.state}[/]" if row.state == "blocked" else row.state
        table.add_row(escape(row.work), state, row.estimate, escape(row.note))
    return table
