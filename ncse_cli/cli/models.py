"""``ncse models list|show|import-sgmse``: the models of the workspace, their evaluations, and imports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ncse_cli.cli._common import console, user_errors
from ncse_cli.cli._options import Workdir
from ncse_cli.cli.evaluate import summary_table

if TYPE_CHECKING:
    from ncse_cli.api import ModelDetails, ModelInfo

app = typer.Typer(help="List the models of the workspace, show one in detail, or import SGMSE+ checkpoints.",
                  no_args_is_help=True,
                  rich_markup_mode="rich")


def _steps(info: ModelInfo) -> str:
    return "-" if info.steps is None else f"{info.steps:,}"


@app.command("list")
@user_errors
def list_command(workdir: Workdir = None) -> None:
    """A table of every model: encoder, backbone, parameters, steps trained, test sets evaluated."""
    from ncse_cli import api

    models = api.list_models(workdir=workdir)
    if not models:
        console.print("no models yet: train one with [bold]ncse train[/] or run [bold]ncse demo[/]")
        return
    table = Table(title="models", title_justify="left")
    for column, justify in (("name", "left"), ("encoder", "left"), ("backbone", "left"), ("parameters", "right"),
                            ("steps", "right"), ("test sets evaluated", "left")):
        table.add_column(column, justify=justify)
    for m in models:
        table.add_row(escape(m.name), m.encoder, m.backbone, f"{m.parameters:,}", _steps(m),
                      escape(", ".join(m.testsets)) or "-")
    console.print(table)


@app.command("show")
@user_errors
def show_command(
    name: Annotated[str, typer.Argument(help="A model name of the workspace, or a model directory.",
                                        show_default=False)],
    workdir: Workdir = None,
) -> None:
    """The model's resolved configuration and its evaluation summaries."""
    from ncse_cli import api

    details = api.show_model(name, workdir=workdir)
    console.print(config_table(details))
    if details.info.evaluations:
        console.print(summary_table(details.evaluations(), "evaluations"))
    else:
        console.print(f"not evaluated yet: [bold]ncse evaluate --model {escape(details.info.name)} --testset ...[/]")


@app.command("import-sgmse")
@user_errors
def import_sgmse_command(
    checkpoint: Annotated[Path, typer.Argument(help="An SGMSE+ PyTorch Lightning checkpoint (.ckpt), e.g. the "
                                               "VB-DMD or WSJ0-CHiME3 files linked from the sgmse README.",
                                               show_default=False)],
    name: Annotated[str, typer.Option(help="The model name in the workspace.", show_default=False)],
    ema: Annotated[bool, typer.Option("--ema/--no-ema", help="Use the checkpoint's EMA weights, as SGMSE+ does "
                                      "at inference (--no-ema: the raw training weights).")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing model of this name.")] = False,
    workdir: Workdir = None,
) -> None:
    """Import a public SGMSE+ checkpoint as a model: enhance, evaluate, report and --init-from then use it.

    The file is read without running any pickled code (the data-module class it names is recorded, not
    imported); backbones, SDEs or settings ncse does not implement are refused by name.
    """
    from ncse_cli import api

    outcome = api.import_sgmse(checkpoint, name, use_ema=ema, overwrite=overwrite, workdir=workdir)
    src = outcome.source
    hp = src["hyper_parameters"]
    console.print(f"imported [bold]{escape(outcome.name)}[/] ({hp.get('backbone')}, {hp.get('sde')}, "
                  f"{outcome.weights} weights, epoch {src.get('epoch')}, step {src.get('global_step')}) "
                  f"into {escape(str(outcome.directory))}")


def config_table(details: ModelDetails) -> Table:
    """Key facts of the model and the sections of its saved config."""
    info = details.info
    table = Table(title=f"model {escape(info.name)}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [("directory", str(info.directory)), ("encoder", info.encoder), ("backbone", info.backbone),
            ("injection", info.injection), ("sample rate", f"{info.sample_rate} Hz"),
            ("parameters", f"{info.parameters:,}"), ("steps trained", _steps(info))]
    if info.p_uncond is not None:
        rows.append(("p_uncond", f"{info.p_uncond:g}"))
    rows += list(details.sections().items())
    for label, value in rows:
        table.add_row(label, escape(value))
    return table

